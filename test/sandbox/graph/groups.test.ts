/**
 * GET /groups/{id}/transitiveMembers on the Graph stand-in (https://learn.microsoft.com/graph/api/group-list-transitivemembers):
 * nested members, the microsoft.graph.user cast, paging with @odata.nextLink, 404 for an unknown group, permissions
 * and the limited information returned for members the caller may not read.
 */
import { SEEDED_GROUPS } from '../../../sandbox/directory';
import { groupMembers } from '../../../src/approvals/policy';
import { type Harness, call, graphClient, mintToken, startGraph } from './helpers';

const READER = ['GroupMember.Read.All', 'User.ReadBasic.All'];

describe('Graph stand-in: group transitiveMembers', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startGraph();
  });
  afterAll(() => h.close());

  const domain = () => h.directory.tenantDomain;
  const list = async (path: string, roles = READER, headers: Record<string, string> = {}) =>
    call(h, 'GET', path, { token: await mintToken(h, { roles }), headers });

  it('lists users of nested groups, flat, with the user cast and $select', async () => {
    const r = await list(
      `/v1.0/groups/${SEEDED_GROUPS.approvers}/transitiveMembers/microsoft.graph.user?$select=id,mail,userPrincipalName`,
    );
    expect(r.status).toBe(200);
    expect(r.json['@odata.context']).toMatch(/\$metadata#users\(id,mail,userPrincipalName\)$/);
    const mails = (r.json.value as { mail: string }[]).map((u) => u.mail).sort();
    expect(mails).toEqual([`ops.engineer@${domain()}`, `ops.lead@${domain()}`]);
    for (const u of r.json.value as Record<string, unknown>[])
      expect(Object.keys(u).sort()).toEqual(['id', 'mail', 'userPrincipalName']);
  });

  it('without the cast lists the nested group too, each item typed', async () => {
    const r = await list(`/v1.0/groups/${SEEDED_GROUPS.approvers}/transitiveMembers`);
    expect(r.status).toBe(200);
    const types = (r.json.value as { '@odata.type': string }[]).map((v) => v['@odata.type']).sort();
    expect(types).toEqual(['#microsoft.graph.group', '#microsoft.graph.user', '#microsoft.graph.user']);
    const groups = await list(`/v1.0/groups/${SEEDED_GROUPS.approvers}/transitiveMembers/microsoft.graph.group`);
    expect((groups.json.value as { id: string }[]).map((g) => g.id)).toEqual([SEEDED_GROUPS.operationsLeads]);
  });

  it('pages with @odata.nextLink, and the product follows it to the last page', async () => {
    const g = h.directory.addGroup({ displayName: 'big' });
    for (let i = 0; i < 5; i++)
      h.directory.addMember(g.id, h.directory.addUser({ userPrincipalName: `p${i}@${domain()}` }).id);
    const first = await list(`/v1.0/groups/${g.id}/transitiveMembers/microsoft.graph.user?$top=2`);
    expect(first.json.value).toHaveLength(2);
    const next = first.json['@odata.nextLink'] as string;
    expect(next).toContain(`/v1.0/groups/${g.id}/transitiveMembers/microsoft.graph.user?`);
    expect(next).toContain('$skiptoken=');
    const second = await list(next.slice(h.origin.length));
    expect(second.json.value).toHaveLength(2);

    // The product's reader, with the real graph client, follows nextLink to the last page.
    const mark = h.journal.mark();
    const members = await groupMembers(graphClient(h, { roles: READER }), g.id, 2);
    expect(h.journal.entries({ since: mark }).filter((e) => e.method === 'GET')).toHaveLength(3);
    expect(members?.approvers.map((a) => a.address).sort()).toEqual(
      [0, 1, 2, 3, 4].map((i) => `p${i}@${domain()}`).sort(),
    );
  });

  it('answers 404 Request_ResourceNotFound for an unknown group and 400 for an id that is not a GUID', async () => {
    const unknown = '00000000-1111-2222-3333-444444444444';
    const r = await list(`/v1.0/groups/${unknown}/transitiveMembers/microsoft.graph.user`);
    expect(r.status).toBe(404);
    expect(r.json.error.code).toBe('Request_ResourceNotFound');
    expect(r.json.error.message).toContain(unknown);
    expect((await list('/v1.0/groups/not-a-guid/transitiveMembers')).status).toBe(400);
    expect(await groupMembers(graphClient(h, { roles: READER }), unknown)).toBeUndefined();
  });

  it('refuses a cast to a type that cannot be a member', async () => {
    const r = await list(`/v1.0/groups/${SEEDED_GROUPS.approvers}/transitiveMembers/microsoft.graph.application`);
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('Request_UnsupportedQuery');
  });

  it('needs a group-member permission, and returns users without User.ReadBasic.All with null properties', async () => {
    const denied = await list(`/v1.0/groups/${SEEDED_GROUPS.approvers}/transitiveMembers`, ['Mail.Send']);
    expect(denied.status).toBe(403);
    expect(denied.json.error.code).toBe('Authorization_RequestDenied');
    const limited = await list(`/v1.0/groups/${SEEDED_GROUPS.approvers}/transitiveMembers/microsoft.graph.user`, [
      'GroupMember.Read.All',
    ]);
    expect(limited.status).toBe(200);
    for (const u of limited.json.value as Record<string, unknown>[]) {
      expect(u.id).toEqual(expect.any(String));
      expect(u.mail).toBeNull();
      expect(u.userPrincipalName).toBeNull();
    }
    // The product cannot send a link to a member without an address: it counts them instead.
    const members = await groupMembers(graphClient(h, { roles: ['GroupMember.Read.All'] }), SEEDED_GROUPS.approvers);
    expect(members).toEqual({ approvers: [], withoutAddress: 2 });
  });

  it('sees a member removed from a nested group at once', async () => {
    const lead = h.directory.userByAddress(`ops.lead@${domain()}`)!;
    h.directory.removeMember(SEEDED_GROUPS.operationsLeads, lead.id);
    try {
      const members = await groupMembers(graphClient(h, { roles: READER }), SEEDED_GROUPS.approvers);
      expect(members?.approvers.map((a) => a.address)).toEqual([`ops.engineer@${domain()}`]);
    } finally {
      h.directory.addMember(SEEDED_GROUPS.operationsLeads, lead.id);
    }
  });
});
