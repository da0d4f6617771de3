/**
 * Activity `grantAppPermissions`: admin consent for the application permissions an app declares, given only after the
 * approval. With GRANT_ADMIN_CONSENT on, this app's identity creates the missing app role assignments
 * (`POST /servicePrincipals/{resourceSpId}/appRoleAssignedTo`,
 * https://learn.microsoft.com/graph/api/serviceprincipal-post-approleassignedto; it needs
 * AppRoleAssignment.ReadWrite.All), after listing what the app's service principal already holds
 * (`GET /servicePrincipals/{id}/appRoleAssignments`), so a repeated run adds nothing. With it off, nothing is written
 * and the orchestrator hands the admin-consent URL to an administrator
 * (https://learn.microsoft.com/entra/identity-platform/v2-admin-consent).
 */
import type { Deps } from '../app/deps';
import { graphCall } from '../clients/graph';
import type { GrantAppPermissionsInput, GrantAppPermissionsResult, Outcome } from '../contracts/provision';
import { httpStatusOf } from '../lib/errors';
import { failureOrThrow } from './failures';
import { type ActivityLog, logLine } from './log';

interface Assignment {
  id: string;
  appRoleId: string;
  resourceId: string;
}

/** Graph's answer to an assignment that exists already (a concurrent run won the race): the permission is granted. */
const ALREADY_ASSIGNED = /already exists/i;

export async function grantAppPermissions(
  input: GrantAppPermissionsInput,
  deps: Deps,
  log?: ActivityLog,
): Promise<Outcome<GrantAppPermissionsResult>> {
  if (!deps.config.provisioning.grantAdminConsent) return { ok: true, granted: false, added: [], removed: [] };
  const p = input.permissions;
  try {
    const held = new Map<string, string>(); // app role id → assignment id
    let next: string | undefined = `/servicePrincipals/${input.servicePrincipalId}/appRoleAssignments`;
    while (next) {
      const page: { body?: { value?: Assignment[]; '@odata.nextLink'?: string } } = await graphCall(
        deps.graph,
        'GET',
        next,
      );
      for (const a of page.body?.value ?? [])
        if (a.resourceId.toLowerCase() === p.resourceSpId.toLowerCase()) held.set(a.appRoleId.toLowerCase(), a.id);
      next = page.body?.['@odata.nextLink'];
    }
    const added: string[] = [];
    for (const [i, appRoleId] of p.appRoleIds.entries()) {
      if (held.has(appRoleId.toLowerCase())) continue;
      try {
        await graphCall(deps.graph, 'POST', `/servicePrincipals/${p.resourceSpId}/appRoleAssignedTo`, {
          principalId: input.servicePrincipalId,
          resourceId: p.resourceSpId,
          appRoleId,
        });
        added.push(p.values[i]);
      } catch (err) {
        if (httpStatusOf(err) === 400 && ALREADY_ASSIGNED.test((err as Error).message)) continue;
        throw err;
      }
    }
    // What the app holds on this resource beyond the approved plan (a narrowed tier) goes: the plan is the authority
    // (https://learn.microsoft.com/graph/api/serviceprincipal-delete-approleassignedto).
    const wanted = new Set(p.appRoleIds.map((id) => id.toLowerCase()));
    const removed: string[] = [];
    for (const [appRoleId, assignmentId] of held) {
      if (wanted.has(appRoleId)) continue;
      try {
        await graphCall(deps.graph, 'DELETE', `/servicePrincipals/${p.resourceSpId}/appRoleAssignedTo/${assignmentId}`);
      } catch (err) {
        if (httpStatusOf(err) !== 404) throw err;
      }
      removed.push(appRoleId);
    }
    if (added.length || removed.length)
      logLine(
        log,
        'info',
        `${input.role} app of ${input.integrationId}: granted ${added.join(', ') || 'nothing'}; revoked ${removed.length} permission(s) beyond the plan`,
      );
    return { ok: true, granted: true, added, removed };
  } catch (err) {
    if (httpStatusOf(err) === 403)
      return {
        ok: false,
        failure: failureOrThrow(
          err,
          "GRANT_ADMIN_CONSENT is on but this app's identity lacks AppRoleAssignment.ReadWrite.All: grant it, or turn the setting off and let an administrator consent",
        ),
      };
    return { ok: false, failure: failureOrThrow(err) };
  }
}
