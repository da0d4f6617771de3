/**
 * GET /api/profiles (function key): the integration profiles this deployment can provision, with what a request may
 * ask of each (options) and what each leaves to people (the manual hand-offs). Read-only: it describes the registered
 * profiles (src/profiles/index.ts) and touches no external system.
 */
import { CREDENTIAL_KINDS } from '../contracts/credentials';
import { credentialKindsOf } from '../profiles/credential-kinds';
import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import * as z from 'zod';

import { MAX_SECRET_LIFETIME_DAYS } from '../api/integration-request';
import { allProfiles, DEFAULT_PROFILE_ID } from '../profiles';
import type { IntegrationProfile } from '../profiles/types';
import { jsonAs } from './http';

/** `GET /api/profiles` (the OpenAPI document is generated from it; the handler's body is checked against it). */
export const profileListSchema = z.object({
  profiles: z.array(
    z.object({
      id: z.string(),
      title: z.string(),
      status: z.enum(['live', 'retired']),
      retired: z.object({ on: z.string(), note: z.string() }).optional(),
      source: z.string(),
      default: z.boolean(),
      apps: z.array(z.object({ role: z.string(), purpose: z.string() })),
      options: z.object({
        testEnvironment: z.boolean(),
        redirectUri: z.boolean(),
        permissionTier: z
          .object({ tiers: z.record(z.string(), z.array(z.string())), default: z.string(), resource: z.string() })
          .nullable(),
        ipAllowlist: z.boolean(),
        grantUsers: z.object({ roles: z.array(z.string()) }),
        secretLifetimeDays: z.object({ max: z.number().int(), default: z.number().int() }).nullable(),
        credential: z
          .object({
            kinds: z.array(z.enum(CREDENTIAL_KINDS)),
            default: z.enum(CREDENTIAL_KINDS),
            apps: z.array(z.string()),
          })
          .nullable(),
      }),
      manualSteps: z.array(z.object({ title: z.string(), actor: z.string(), steps: z.array(z.string()) })),
    }),
  ),
});

/** The application-permission tiers a request may pick (`options.permissionTier`), or null when there are none. */
function permissionTiers(p: IntegrationProfile) {
  const app = p.apps.find((a) => a.applicationPermissions);
  const perms = app?.applicationPermissions;
  return perms ? { tiers: perms.tiers, default: perms.defaultTier, resource: perms.resourceName } : null;
}

/** The credential kinds a request may pick (`options.credential`) and the apps it applies to, or null. */
function credentialChoice(p: IntegrationProfile) {
  const apps = p.apps.filter((a) => credentialKindsOf(a).length > 1);
  if (!apps.length) return null;
  const kinds = [...new Set(apps.flatMap((a) => credentialKindsOf(a)))];
  return { kinds, default: credentialKindsOf(apps[0])[0], apps: apps.map((a) => a.role) };
}

/** The public description of a profile: ids, names and labels only. */
export function describeProfile(p: IntegrationProfile) {
  const secretApps = p.apps.filter((a) => a.secretLifetimeDays > 0);
  return {
    id: p.id,
    title: p.title,
    status: p.retired ? ('retired' as const) : ('live' as const),
    ...(p.retired ? { retired: p.retired } : {}),
    source: p.source,
    default: p.id === DEFAULT_PROFILE_ID,
    apps: p.apps.map((a) => ({ role: a.role, purpose: a.purpose })),
    options: {
      testEnvironment: true,
      // Only profiles whose apps take the request's redirect URI (`{redirectUri}`) accept one.
      redirectUri: p.apps.some((a) => a.redirectUris.some((u) => u.includes('{redirectUri}'))),
      permissionTier: permissionTiers(p),
      ipAllowlist: p.serviceNow.ipAllowlist.length > 0 || p.serviceNow.ipAllowlistHost !== undefined,
      grantUsers: { roles: Object.keys(p.serviceNow.grantableUserRoles) },
      secretLifetimeDays: secretApps.length
        ? { max: MAX_SECRET_LIFETIME_DAYS, default: Math.max(...secretApps.map((a) => a.secretLifetimeDays)) }
        : null,
      credential: credentialChoice(p),
    },
    manualSteps: p.handOffs.map((h) => ({ title: h.title, actor: h.actor, steps: h.steps.map((s) => s.label) })),
  };
}

export async function listProfiles(_request: HttpRequest): Promise<HttpResponseInit> {
  return jsonAs(profileListSchema, 200, { profiles: allProfiles().map(describeProfile) });
}
