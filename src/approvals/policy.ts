/**
 * The approver policy: who may approve go-live comes from the settings, never from the request. `APPROVERS` lists
 * addresses; `APPROVER_GROUPS` names Entra groups whose members (through nested groups) may approve. Members are read
 * with `GET /groups/{id}/transitiveMembers/microsoft.graph.user?$select=id,mail,userPrincipalName`, following
 * `@odata.nextLink` (https://learn.microsoft.com/graph/api/group-list-transitivemembers,
 * https://learn.microsoft.com/graph/paging). Application permissions: GroupMember.Read.All to list the members and
 * User.ReadBasic.All to read their mail and user principal name (without it Graph lists the members with null
 * properties: https://learn.microsoft.com/graph/permissions-overview, "Limited information returned for inaccessible
 * member objects").
 *
 * A person is known by every address they have (mail and user principal name), so a policy that names someone by
 * their UPN and a group that yields their mail address count as one approver, and a requester is recognised under
 * either address.
 */
import type { Client } from '@microsoft/microsoft-graph-client';

import { graphRaw } from '../clients/graph';
import type { AppConfig } from '../config';
import { ExternalServiceError } from '../lib/errors';

export type ApproverPolicy = AppConfig['approvals'];

/** One person who may approve: the address their link is sent to, and every address that names them. */
export interface Approver {
  address: string;
  aliases: string[];
}

export interface ResolvedPolicy {
  approvers: Approver[];
  /** Configured groups Graph does not know (404): they contribute nobody. */
  missingGroups: string[];
  /** Group members without a mail address or user principal name (cannot be sent a link). */
  withoutAddress: number;
}

interface MemberPage {
  value?: Array<{ id?: string; mail?: string | null; userPrincipalName?: string | null }>;
  '@odata.nextLink'?: string;
}

const norm = (a: string) => a.trim().toLowerCase();

/** At most this many pages per group (999 members a page): a runaway nextLink loop fails instead of spinning. */
const MAX_PAGES = 200;

/** Users in a group, through nested groups; `undefined` when the group does not exist. */
export async function groupMembers(
  graph: Client,
  groupId: string,
  /** `$top`: members a page (1-999). */
  pageSize = 999,
): Promise<{ approvers: Approver[]; withoutAddress: number } | undefined> {
  const approvers: Approver[] = [];
  let withoutAddress = 0;
  let next: string | undefined =
    `/groups/${encodeURIComponent(groupId)}/transitiveMembers/microsoft.graph.user` +
    `?$select=id,mail,userPrincipalName&$top=${pageSize}`;
  for (let page = 0; next !== undefined; page++) {
    if (page >= MAX_PAGES)
      throw new ExternalServiceError({
        service: 'graph',
        message: `Graph listed more than ${MAX_PAGES} pages of members of group ${groupId}`,
        retriable: false,
      });
    let body: MemberPage | undefined;
    try {
      body = (await graphRaw<MemberPage>(graph, 'GET', next)).body;
    } catch (err) {
      if (page === 0 && err instanceof ExternalServiceError && err.status === 404) return undefined;
      throw err;
    }
    for (const u of body?.value ?? []) {
      const aliases = [u.mail, u.userPrincipalName].filter((a): a is string => typeof a === 'string' && a !== '');
      if (!aliases.length) {
        withoutAddress++;
        continue;
      }
      approvers.push({ address: norm(aliases[0]), aliases: [...new Set(aliases.map(norm))] });
    }
    next = body?.['@odata.nextLink'];
  }
  return { approvers, withoutAddress };
}

/** Merges entries that share an address (one person named twice). The first entry's address is kept. */
function merge(into: Approver[], add: Approver): void {
  const same = into.find((a) => a.aliases.some((x) => add.aliases.includes(x)));
  if (!same) into.push({ address: add.address, aliases: [...add.aliases] });
  else for (const x of add.aliases) if (!same.aliases.includes(x)) same.aliases.push(x);
}

/** Everyone the policy names now: group members first (their mail is where a link goes), then the listed addresses. */
export async function resolvePolicy(graph: Client, policy: ApproverPolicy): Promise<ResolvedPolicy> {
  const approvers: Approver[] = [];
  const missingGroups: string[] = [];
  let withoutAddress = 0;
  for (const group of policy.groups) {
    const members = await groupMembers(graph, group);
    if (!members) {
      missingGroups.push(group);
      continue;
    }
    withoutAddress += members.withoutAddress;
    for (const m of members.approvers) merge(approvers, m);
  }
  for (const a of policy.approvers) merge(approvers, { address: norm(a), aliases: [norm(a)] });
  return { approvers, missingGroups, withoutAddress };
}

export type Eligibility = { eligible: true } | { eligible: false; reason: 'requester' | 'not-in-policy' };

/**
 * Whether `approver` may decide now: not one of `requesters`, and still named by the policy (listed in APPROVERS or,
 * re-read through Graph, a member of an APPROVER_GROUPS group). Graph failures are thrown (the caller answers "try
 * again" and changes nothing).
 */
export async function checkEligible(
  graph: Client,
  policy: ApproverPolicy,
  approver: string,
  requesters: readonly string[],
): Promise<Eligibility> {
  const me = norm(approver);
  const denied = new Set(requesters.map(norm));
  if (denied.has(me)) return { eligible: false, reason: 'requester' };
  if (policy.approvers.map(norm).includes(me)) return { eligible: true };
  for (const group of policy.groups) {
    const members = await groupMembers(graph, group);
    const person = members?.approvers.find((a) => a.aliases.includes(me));
    if (person) {
      // Named by another of their addresses as a requester: still the requester.
      if (person.aliases.some((a) => denied.has(a))) return { eligible: false, reason: 'requester' };
      return { eligible: true };
    }
  }
  return { eligible: false, reason: 'not-in-policy' };
}
