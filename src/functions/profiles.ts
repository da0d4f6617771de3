/**
 * GET /api/profiles (function key): the integration profiles this deployment can provision, with what a request may
 * ask of each (options) and what each leaves to people (the manual hand-offs). Read-only: it describes the registered
 * profiles (src/profiles/index.ts) and touches no external system.
 */
import type { HttpRequest, HttpResponseInit } from '@azure/functions';

import { MAX_SECRET_LIFETIME_DAYS } from '../api/integration-request';
import { allProfiles, DEFAULT_PROFILE_ID } from '../profiles';
import type { IntegrationProfile } from '../profiles/types';
import { json } from './http';

/** The application-permission tiers a request may pick (`options.permissionTier`), or null when there are none. */
function permissionTiers(p: IntegrationProfile) {
  const app = p.apps.find((a) => a.applicationPermissions);
  const perms = app?.applicationPermissions;
  return perms ? { tiers: perms.tiers, default: perms.defaultTier, resource: perms.resourceName } : null;
}

/** The public description of a profile: ids, names and labels only. */
export function describeProfile(p: IntegrationProfile) {
  const secretApps = p.apps.filter((a) => a.secretLifetimeDays > 0);
  return {
    id: p.id,
    title: p.title,
    status: p.retired ? 'retired' : 'live',
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
    },
    manualSteps: p.handOffs.map((h) => ({ title: h.title, actor: h.actor, steps: h.steps.map((s) => s.label) })),
  };
}

export async function listProfiles(_request: HttpRequest): Promise<HttpResponseInit> {
  return json(200, { profiles: allProfiles().map(describeProfile) });
}
