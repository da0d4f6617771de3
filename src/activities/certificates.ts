/**
 * `ensureCertificate`: the app's self-signed certificate in Key Vault, ensured by its natural key (the certificate
 * name) with ownership recorded in its tags (`integration`, `role`, `appId`), never inferred.
 *
 * - Without `afterVersion`: the newest enabled, unexpired version of ours if there is one (created false), else a new
 *   one. With `afterVersion` (rotation): a version of ours newer than it if there is one, else a new one.
 * - A certificate of that name whose versions carry other tags is someone else's: a failure, nothing changed.
 * - Idempotent and safe when executions overlap: a lease on (integrationId, role) (src/registry/leases.ts) keeps a
 *   second execution from creating while the first one is, and Key Vault itself refuses a create while one is pending
 *   for the name (409 Conflict, azure-sdk-for-python#13289): then the pending operation is awaited and its result
 *   used, so an execution that crashed after its create leaves one version, not two.
 * - Policy (https://learn.microsoft.com/azure/key-vault/certificates/about-certificates, CertificatePolicy of
 *   @azure/keyvault-certificates): issuer Self, RSA 2048, exportable (ServiceNow needs a keystore of it), no key reuse,
 *   PKCS#12, EmailContacts 30 days before expiry and no AutoRenew: renewal is driven by rotation, because a Key Vault
 *   renewal does not reach the app's key credentials (AzureAD/microsoft-authentication-library-for-dotnet#3939).
 */
import type { CertificatePolicy, CertificateProperties } from '@azure/keyvault-certificates';

import type { Deps } from '../app/deps';
import { toKeyVaultError } from '../clients/keyvault';
import { certificateFacts } from '../clients/keyvault-certificates';
import type { CertificateResult, EnsureCertificateInput } from '../contracts/credentials';
import type { Outcome } from '../contracts/provision';
import { underLease } from './lease';
import { failureOrThrow, inputFailure, retriable } from './failures';
import { logLine, type ActivityLog } from './log';

/** Key Vault object names: 1–127 of `0-9a-zA-Z-` (about-object-identifiers). */
const CERTIFICATE_NAME = /^[0-9a-zA-Z-]{1,127}$/;
export const CERTIFICATE_LEASE_SCOPE = 'app-certificate';
/** Creating a self-signed certificate takes seconds; the lease outlives it comfortably. */
export const CERTIFICATE_LEASE_MS = 120_000;
/** How often the pending operation is read (the SDK's default is 2 s). */
export const CERTIFICATE_POLL_MS = 1_000;

/** The tags that record whose certificate it is. */
export const CERTIFICATE_TAG = { integration: 'integration', role: 'role', appId: 'appId' } as const;

export function certificatePolicy(
  input: Pick<EnsureCertificateInput, 'subject' | 'validityMonths'>,
): CertificatePolicy {
  return {
    issuerName: 'Self',
    subject: input.subject,
    keyType: 'RSA',
    keySize: 2048,
    exportable: true,
    reuseKey: false,
    contentType: 'application/x-pkcs12',
    validityInMonths: input.validityMonths,
    lifetimeActions: [{ action: 'EmailContacts', daysBeforeExpiry: 30 }],
  };
}

const tagsOf = (input: EnsureCertificateInput): Record<string, string> => ({
  [CERTIFICATE_TAG.integration]: input.integrationId,
  [CERTIFICATE_TAG.role]: input.role,
  [CERTIFICATE_TAG.appId]: input.appId,
});

const ours = (v: CertificateProperties, input: EnsureCertificateInput) =>
  Object.entries(tagsOf(input)).every(([k, value]) => v.tags?.[k] === value);

const createdMs = (v: CertificateProperties) => v.createdOn?.getTime() ?? 0;

function validate(input: EnsureCertificateInput): string[] {
  const problems: string[] = [];
  if (!CERTIFICATE_NAME.test(input.certificateName ?? ''))
    problems.push(`'${input.certificateName}' is not a valid Key Vault certificate name`);
  if (!/^CN=\S/.test(input.subject ?? '')) problems.push(`subject must be 'CN=<name>', got '${input.subject}'`);
  if (!Number.isInteger(input.validityMonths) || input.validityMonths < 1 || input.validityMonths > 120)
    problems.push(`validityMonths must be a whole number of months 1..120, got ${input.validityMonths}`);
  for (const key of ['integrationId', 'role', 'appId'] as const) if (!input[key]) problems.push(`${key} is required`);
  return problems;
}

export async function ensureCertificate(
  input: EnsureCertificateInput,
  deps: Deps,
  log?: ActivityLog,
): Promise<Outcome<CertificateResult>> {
  const problems = validate(input);
  if (problems.length) return inputFailure('InvalidCertificateInput', problems.join('; '));
  try {
    return await underLease(
      deps,
      {
        scope: CERTIFICATE_LEASE_SCOPE,
        key: [input.integrationId, input.role],
        ttlMs: CERTIFICATE_LEASE_MS,
        owner: input.certificateName,
        busyCode: 'CertificateWriteInProgress',
        busy: () =>
          `another execution is ensuring the certificate of ${input.role} for ${input.integrationId}; retry after it ` +
          'finished',
        what: `ensureCertificate ${input.role}`,
      },
      () => ensureUnderLease(input, deps, log),
      log,
    );
  } catch (err) {
    return { ok: false, failure: failureOrThrow(err) };
  }
}

async function listVersions(deps: Deps, name: string): Promise<CertificateProperties[]> {
  const out: CertificateProperties[] = [];
  try {
    // An unknown name lists nothing.
    for await (const v of deps.certificates.listPropertiesOfCertificateVersions(name)) out.push(v);
  } catch (err) {
    throw toKeyVaultError(err, `list the versions of certificate '${name}'`);
  }
  return out;
}

type Pick_ = { version: CertificateProperties } | { foreign: CertificateProperties[] } | { none: true };

/** The version this input is satisfied by, if any. */
function choose(versions: CertificateProperties[], input: EnsureCertificateInput, nowMs: number): Pick_ {
  const foreign = versions.filter((v) => !ours(v, input));
  if (foreign.length) return { foreign };
  const usable = versions
    .filter((v) => v.version && v.enabled !== false && (!v.expiresOn || v.expiresOn.getTime() > nowMs))
    .sort((a, b) => createdMs(b) - createdMs(a));
  if (input.afterVersion === undefined) return usable[0] ? { version: usable[0] } : { none: true };
  const after = versions.find((v) => v.version === input.afterVersion);
  // Key Vault's `created` has a resolution of seconds: a later version may share the second of `afterVersion`.
  const newer = usable.find((v) => v.version !== input.afterVersion && (!after || createdMs(v) >= createdMs(after)));
  return newer ? { version: newer } : { none: true };
}

async function ensureUnderLease(
  input: EnsureCertificateInput,
  deps: Deps,
  log: ActivityLog | undefined,
): Promise<Outcome<CertificateResult>> {
  const name = input.certificateName;
  const nowMs = deps.now().getTime();
  const before = await listVersions(deps, name);
  if (input.afterVersion !== undefined && !before.some((v) => v.version === input.afterVersion))
    return inputFailure('UnknownCertificateVersion', `certificate '${name}' has no version '${input.afterVersion}'`);
  let chosen = choose(before, input, nowMs);
  let createdVersion: string | undefined;
  if ('none' in chosen) {
    createdVersion = await createOrAwait(input, deps, log);
    const after = await listVersions(deps, name);
    const mine = createdVersion && after.find((v) => v.version === createdVersion);
    chosen = mine && ours(mine, input) ? { version: mine } : choose(after, input, nowMs);
  }
  if ('foreign' in chosen)
    return {
      ok: false,
      failure: {
        service: 'keyvault',
        code: 'CertificateNotOwned',
        message:
          `Key Vault certificate '${name}' exists with tags that are not this integration's ` +
          `(${input.integrationId}, ${input.role}, ${input.appId}); it was left unchanged. Remove it or choose ` +
          'another name.',
      },
    };
  if ('none' in chosen)
    throw retriable('CertificateNotReady', `certificate '${name}' has no usable version yet`, 'keyvault');
  const v = chosen.version;
  const version = v.version as string;
  let cer: Uint8Array | undefined;
  try {
    cer = (await deps.certificates.getCertificateVersion(name, version)).cer;
  } catch (err) {
    throw toKeyVaultError(err, `get certificate '${name}/${version}'`);
  }
  if (!cer?.length)
    throw retriable('CertificateNotReady', `certificate '${name}/${version}' has no cer yet`, 'keyvault');
  const created = !before.some((b) => b.version === version);
  logLine(log, 'info', `ensureCertificate ${input.role}: ${created ? 'created' : 'kept'} ${name}/${version}`);
  return {
    ok: true,
    ...certificateFacts({ certificateName: name, version }, Buffer.from(cer)),
    created,
    createdOn: (v.createdOn ?? new Date(nowMs)).toISOString(),
  };
}

/**
 * Creates a version and waits for it; when Key Vault answers 409 (a create is pending for the name: an earlier
 * execution's, or another caller's), waits for that operation instead. Returns the version created by this call, or
 * undefined when it waited for someone else's.
 */
async function createOrAwait(
  input: EnsureCertificateInput,
  deps: Deps,
  log: ActivityLog | undefined,
): Promise<string | undefined> {
  const name = input.certificateName;
  try {
    const poller = await deps.certificates.beginCreateCertificate(name, certificatePolicy(input), {
      tags: tagsOf(input),
      intervalInMs: CERTIFICATE_POLL_MS,
    });
    const cert = await poller.pollUntilDone();
    return cert.properties.version;
  } catch (err) {
    if ((err as { statusCode?: unknown }).statusCode !== 409)
      throw toKeyVaultError(err, `create certificate '${name}'`);
  }
  logLine(log, 'info', `ensureCertificate ${input.role}: a create is pending for ${name}; waiting for it`);
  try {
    const pending = await deps.certificates.getCertificateOperation(name, { intervalInMs: CERTIFICATE_POLL_MS });
    await pending.pollUntilDone();
  } catch (err) {
    throw toKeyVaultError(err, `wait for the pending operation of certificate '${name}'`);
  }
  return undefined;
}
