/**
 * Which credential each app of a provisioning gets: the request's `options.credential` where the app's profile allows
 * it, else the app's default (its first allowed kind, `secret` unless the profile says otherwise). Replay-safe.
 */
import type { CredentialKind } from '../contracts/credentials';
import type { AppSpec, IntegrationProfile } from './types';

export function credentialKindsOf(app: AppSpec): CredentialKind[] {
  if (app.existing || app.secretConsumers.length === 0) return [];
  return app.credentialKinds?.length ? app.credentialKinds : ['secret'];
}

/** The kind an app gets for a request (undefined for apps without a credential of ours). */
export function credentialKindFor(app: AppSpec, requested: CredentialKind | undefined): CredentialKind | undefined {
  const allowed = credentialKindsOf(app);
  if (!allowed.length) return undefined;
  return requested && allowed.includes(requested) ? requested : allowed[0];
}

/** Role → kind for every app with a credential of ours. */
export function credentialKinds(
  profile: IntegrationProfile,
  requested: CredentialKind | undefined,
): Record<string, CredentialKind> {
  const out: Record<string, CredentialKind> = {};
  for (const app of profile.apps) {
    const kind = credentialKindFor(app, requested);
    if (kind) out[app.role] = kind;
  }
  return out;
}

/** The ServiceNow record (key) that consumes an app's credential, when it is one ServiceNow OAuth provider record. */
export function serviceNowConsumerRecord(profile: IntegrationProfile, app: AppSpec): string | undefined {
  const consumers = app.secretConsumers;
  if (consumers.length !== 1 || consumers[0].kind !== 'servicenow') return undefined;
  const key = consumers[0].record;
  const record = profile.serviceNow.records.find((r) => r.key === key);
  return record?.table === 'oauth_entity' ? key : undefined;
}
