/**
 * The Event Grid backstop (item 3 of docs/reference/rotation.md#requirements): Key Vault publishes
 * `Microsoft.KeyVault.SecretNearExpiry` 30 days before the current version's `exp`
 * (https://learn.microsoft.com/azure/event-grid/event-schema-key-vault). `subject` is the secret name; `data` has `Id`,
 * `VaultName`, `ObjectType`, `ObjectName`, `Version`, `NBF`, `EXP` (Unix seconds). The documentation's samples and the
 * SDK models disagree on key casing, so keys are matched case-insensitively
 * (docs/reference/microsoft.md#secretnearexpiry-events). Both the Event Grid schema (`eventType`) and the CloudEvents
 * schema (`type`) are read.
 *
 * `Microsoft.KeyVault.CertificateNearExpiry` (same data, `ObjectType` `Certificate`, also 30 days before expiry; the
 * SDK model KeyVaultCertificateNearExpiryEventData in @azure/eventgrid-system-events) starts the rotation of an app
 * whose credential is that certificate: Key Vault renewing a certificate does not update the app's key credentials,
 * so the renewal is driven from the event (https://github.com/AzureAD/microsoft-authentication-library-for-dotnet/issues/3939).
 *
 * The secret is mapped to its integration through the version's tags (integrationId, role, keyId), then the
 * integration is assessed exactly as the sweep does and the same orchestration is started under the same
 * deterministic id. The event is a backstop: when the settings' window is shorter than Key Vault's 30 days the
 * credential is rotated now anyway, under the id its due date gives (the one a later sweep would compute).
 */
import type { DurableClient } from 'durable-functions';

import type { TimedCredential } from './due';
import type { IntegrationRecord } from '../registry/types';
import {
  assessIntegration,
  certificateVersionsOf,
  startDue,
  versionsOf,
  type StartedRotation,
  type SweepDeps,
} from './sweep';

export const SECRET_NEAR_EXPIRY = 'Microsoft.KeyVault.SecretNearExpiry';
export const CERTIFICATE_NEAR_EXPIRY = 'Microsoft.KeyVault.CertificateNearExpiry';

interface NearExpiryFacts {
  version?: string;
  /** Expiry from the event (`EXP`), when present. */
  expiresOn?: Date;
}
export type NearExpiryEvent = NearExpiryFacts & ({ secretName: string } | { certificateName: string });

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A property by name, ignoring case. */
function prop(obj: Record<string, unknown>, name: string): unknown {
  const key = Object.keys(obj).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : obj[key];
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined);

/** The near-expiry facts of an event, or undefined for any other event (or a malformed one). */
export function parseNearExpiry(event: unknown): NearExpiryEvent | undefined {
  if (!isRecord(event)) return undefined;
  const type = (str(prop(event, 'eventType')) ?? str(prop(event, 'type')))?.toLowerCase();
  const kind =
    type === SECRET_NEAR_EXPIRY.toLowerCase()
      ? 'secret'
      : type === CERTIFICATE_NEAR_EXPIRY.toLowerCase()
        ? 'certificate'
        : undefined;
  if (!kind) return undefined;
  const rawData = prop(event, 'data');
  const data = isRecord(rawData) ? rawData : {};
  const objectType = str(prop(data, 'ObjectType'));
  if (objectType !== undefined && objectType.toLowerCase() !== kind) return undefined;
  const name = str(prop(data, 'ObjectName')) ?? str(prop(event, 'subject'));
  if (!name || !/^[A-Za-z][A-Za-z0-9-]{0,126}$/.test(name)) return undefined;
  const version = str(prop(data, 'Version'));
  const exp = prop(data, 'EXP');
  const expSeconds = typeof exp === 'number' ? exp : typeof exp === 'string' && /^\d+$/.test(exp) ? Number(exp) : NaN;
  return {
    ...(kind === 'secret' ? { secretName: name } : { certificateName: name }),
    ...(version ? { version } : {}),
    ...(Number.isFinite(expSeconds) ? { expiresOn: new Date(expSeconds * 1000) } : {}),
  };
}

export type NearExpiryOutcome = { handled: true; rotation: StartedRotation } | { handled: false; reason: string };

/** Maps the event to its integration and starts the rotation (or says why not). Throws only retriable failures. */
export async function handleNearExpiry(
  deps: SweepDeps,
  client: DurableClient,
  event: unknown,
  now: Date,
): Promise<NearExpiryOutcome> {
  const parsed = parseNearExpiry(event);
  if (!parsed) return { handled: false, reason: 'not a Key Vault SecretNearExpiry or CertificateNearExpiry event' };
  if ('certificateName' in parsed) return handleCertificateNearExpiry(deps, client, parsed, now);
  const versions = await versionsOf(deps, parsed.secretName);
  const version = parsed.version
    ? versions.find((v) => v.version === parsed.version)
    : versions
        .filter((v) => v.enabled)
        .sort((a, b) => (b.createdOn?.getTime() ?? 0) - (a.createdOn?.getTime() ?? 0))[0];
  const integrationId = version?.tags.integrationId;
  const role = version?.tags.role;
  if (!version || !integrationId || !role)
    return { handled: false, reason: `secret '${parsed.secretName}' is not a credential of an integration` };

  const record = (await deps.registry.get(integrationId))?.value;
  if (!record) return { handled: false, reason: `integration ${integrationId} is not registered` };
  if (record.status !== 'active') return { handled: false, reason: `integration ${integrationId} is ${record.status}` };
  const app = record.apps[role];
  if (!app || app.secretName !== parsed.secretName)
    return {
      handled: false,
      reason: `integration ${integrationId} keeps no '${role}' secret named '${parsed.secretName}'`,
    };
  if (app.keyId && version.tags.keyId !== app.keyId)
    return { handled: false, reason: `version ${version.version} is not the credential in use (already rotated)` };

  return startForRole(deps, client, record, role, now);
}

/**
 * A certificate's event: its version's tags name the integration and role (written by ensureCertificate:
 * `integrationId` — or `integration` — `role`, `appId`), and the registry must hold exactly that version as the role's
 * certificate (an event for an older version means it was rotated already).
 */
async function handleCertificateNearExpiry(
  deps: SweepDeps,
  client: DurableClient,
  parsed: NearExpiryFacts & { certificateName: string },
  now: Date,
): Promise<NearExpiryOutcome> {
  const name = parsed.certificateName;
  const versions = await certificateVersionsOf(deps, name);
  const version = parsed.version
    ? versions.find((v) => v.version.toLowerCase() === parsed.version!.toLowerCase())
    : versions
        .filter((v) => v.enabled)
        .sort((a, b) => (b.createdOn?.getTime() ?? 0) - (a.createdOn?.getTime() ?? 0))[0];
  const integrationId = version?.tags.integrationId ?? version?.tags.integration;
  const role = version?.tags.role;
  if (!version || !integrationId || !role)
    return { handled: false, reason: `certificate '${name}' is not a credential of an integration` };

  const record = (await deps.registry.get(integrationId))?.value;
  if (!record) return { handled: false, reason: `integration ${integrationId} is not registered` };
  if (record.status !== 'active') return { handled: false, reason: `integration ${integrationId} is ${record.status}` };
  const cred = record.apps[role]?.credential;
  if (cred?.kind !== 'certificate' || cred.certificateName.toLowerCase() !== name.toLowerCase())
    return {
      handled: false,
      reason: `integration ${integrationId} keeps no '${role}' certificate named '${name}'`,
    };
  if (cred.version.toLowerCase() !== version.version.toLowerCase())
    return { handled: false, reason: `version ${version.version} is not the certificate in use (already rotated)` };
  return startForRole(deps, client, record, role, now);
}

/** Assesses the integration as the sweep does and starts its rotation with `role` forced due. */
async function startForRole(
  deps: SweepDeps,
  client: DurableClient,
  record: IntegrationRecord,
  role: string,
  now: Date,
): Promise<NearExpiryOutcome> {
  const integrationId = record.id;
  const assessed = await assessIntegration(deps, record, now);
  if (assessed.credentials.some((c) => c.kind === 'rotated'))
    return { handled: false, reason: `a rotation of ${integrationId} already wrote a newer credential` };
  const timed = assessed.credentials.filter((c): c is TimedCredential => c.kind === 'due' || c.kind === 'not-due');
  const due = timed.filter((c) => c.kind === 'due' || c.role === role);
  if (!due.some((c) => c.role === role))
    return { handled: false, reason: `the '${role}' credential of ${integrationId} has no known expiry` };
  const rotation = await startDue(
    deps,
    client,
    {
      integrationId,
      record,
      roles: due.map((c) => c.role),
      dueDate: new Date(Math.min(...due.map((c) => c.dueAt.getTime()))),
      // The event's role is forced even before the settings' window: recorded as due from the event.
      credentials: due.map((c) => ({ ...c, kind: 'due' as const })),
    },
    'near-expiry-event',
  );
  return { handled: true, rotation };
}
