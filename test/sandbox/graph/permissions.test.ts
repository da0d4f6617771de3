/**
 * What provisioning an app with Microsoft Graph application permissions needs from the Graph stand-in:
 * - the Microsoft Graph service principal's `appRoles` with the real permission ids
 *   (https://learn.microsoft.com/graph/permissions-reference);
 * - `requiredResourceAccess` on applications (https://learn.microsoft.com/graph/api/resources/requiredresourceaccess);
 * - app role assignments: grant, list both ways, read, revoke
 *   (https://learn.microsoft.com/graph/api/serviceprincipal-post-approleassignedto,
 *   https://learn.microsoft.com/graph/api/serviceprincipal-list-approleassignedto,
 *   https://learn.microsoft.com/graph/api/serviceprincipal-list-approleassignments,
 *   https://learn.microsoft.com/graph/api/serviceprincipal-delete-approleassignedto),
 *   their permissions, errors, cascade on delete, journal and injected faults.
 */
import { ResponseType, type GraphError } from '@microsoft/microsoft-graph-client';

import { GRAPH_APP_ID, GRAPH_ROLES, type ServicePrincipal } from '../../../sandbox/directory';
import { type Harness, call, graphClient, mintToken, startGraph } from './helpers';

async function failure(p: Promise<unknown>): Promise<GraphError> {
  try {
    await p;
  } catch (err) {
    return err as GraphError;
  }
  throw new Error('expected the call to fail');
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** The caller the assignment pages ask for: AppRoleAssignment.ReadWrite.All and Application.Read.All. */
const GRANTER = ['AppRoleAssignment.ReadWrite.All', 'Application.Read.All'];
/** User.Read.All as a delegated permission: not an app role of Microsoft Graph. */
const USER_READ_ALL_DELEGATED = 'a154be20-db9c-4678-8ab7-66f6cc099a59';

const graphSp = (h: Harness): ServicePrincipal => h.directory.spByAppId(GRAPH_APP_ID) as ServicePrincipal;

/** An application and its service principal, created through Graph by the Function identity (OwnedBy). */
async function provisionedApp(
  h: Harness,
  name: string,
): Promise<{ app: { id: string; appId: string }; sp: { id: string; displayName: string } }> {
  const client = graphClient(h);
  const app = await client.api('/applications').post({ displayName: name });
  const sp = await client.api('/servicePrincipals').post({ appId: app.appId });
  return { app, sp };
}

const grantBody = (h: Harness, principalId: string, role: keyof typeof GRAPH_ROLES) => ({
  principalId,
  resourceId: graphSp(h).id,
  appRoleId: GRAPH_ROLES[role],
});

describe('graph stand-in: Microsoft Graph application permissions', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startGraph();
  });
  afterAll(() => h.close());
  beforeEach(() => h.faults.clear());

  describe('the Microsoft Graph service principal', () => {
    it('carries the real application-permission ids', () => {
      // Each id checked against the permissions reference's "All permissions and IDs" table (Application rows).
      expect(GRAPH_ROLES).toMatchObject({
        'User.Read.All': 'df021288-bdef-4463-88db-98f22de89214',
        'Group.Read.All': '5b567255-7703-4780-807c-7be8301ae99b',
        'User.ReadWrite.All': '741f803b-c850-494e-b5df-cde7c675a1ca',
        'GroupMember.ReadWrite.All': 'dbaae8cf-10b5-4b86-a4a1-f871c94c6695',
        'AppRoleAssignment.ReadWrite.All': '06b708a9-e830-4db3-a914-8e69da51d44f',
        'Application.Read.All': '9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30',
      });
    });

    it("answers GET servicePrincipals(appId='…')?$select=id,appRoles with every role in the appRole shape", async () => {
      const sp = await graphClient(h)
        .api(`/servicePrincipals(appId='${GRAPH_APP_ID}')`)
        .select(['id', 'appRoles'])
        .get();
      expect(Object.keys(sp).sort()).toEqual(['@odata.context', 'appRoles', 'id']);
      expect(sp['@odata.context']).toMatch(/\$metadata#servicePrincipals\(id,appRoles\)\/\$entity$/);
      expect(sp.id).toBe(graphSp(h).id);
      const byValue = new Map((sp.appRoles as { value: string }[]).map((r) => [r.value, r]));
      for (const [value, id] of Object.entries(GRAPH_ROLES))
        expect(byValue.get(value)).toEqual({
          allowedMemberTypes: ['Application'],
          description: expect.any(String),
          displayName: expect.any(String),
          id,
          isEnabled: true,
          origin: 'Application',
          value,
        });
    });
  });

  describe('requiredResourceAccess on applications', () => {
    const rra = [
      {
        resourceAppId: GRAPH_APP_ID,
        resourceAccess: [
          { id: GRAPH_ROLES['User.Read.All'], type: 'Role' },
          { id: GRAPH_ROLES['Group.Read.All'], type: 'Role' },
          { id: 'e1fe6dd8-ba31-4d61-89e7-88639da4683d', type: 'Scope' },
        ],
      },
    ];

    it('is accepted on create, upsert and PATCH and returned with $select', async () => {
      const client = graphClient(h);
      const created = await client.api('/applications').post({ displayName: 'Spoke', requiredResourceAccess: rra });
      expect(created.requiredResourceAccess).toEqual(rra);
      const selected = await client.api(`/applications/${created.id}`).select(['requiredResourceAccess']).get();
      expect(selected).toEqual({
        '@odata.context': expect.stringMatching(/\$metadata#applications\(requiredResourceAccess\)\/\$entity$/),
        requiredResourceAccess: rra,
      });

      const upsert = (body: object) =>
        client
          .api(`/applications(uniqueName='sn-entra-spoke')`)
          .header('Prefer', 'create-if-missing')
          .responseType(ResponseType.RAW)
          .patch(body) as Promise<Response>;
      const first = await upsert({ displayName: 'Spoke (upsert)', requiredResourceAccess: rra });
      expect(first.status).toBe(201);
      const upserted = (await first.json()) as { id: string; requiredResourceAccess: unknown };
      expect(upserted.requiredResourceAccess).toEqual(rra);
      const narrower = [{ resourceAppId: GRAPH_APP_ID, resourceAccess: [rra[0].resourceAccess[0]] }];
      expect((await upsert({ requiredResourceAccess: narrower })).status).toBe(204);
      const read = await client.api(`/applications/${upserted.id}`).select(['requiredResourceAccess']).get();
      expect(read.requiredResourceAccess).toEqual(narrower);

      await client.api(`/applications/${upserted.id}`).patch({ requiredResourceAccess: [] });
      expect((await client.api(`/applications/${upserted.id}`).get()).requiredResourceAccess).toEqual([]);
    });

    it('is validated like Graph: 400 for malformed GUIDs, unknown types and wrong shapes, changing nothing', async () => {
      const client = graphClient(h);
      const app = await client.api('/applications').post({ displayName: 'Validated', requiredResourceAccess: rra });
      const patch = (value: unknown) =>
        failure(client.api(`/applications/${app.id}`).patch({ requiredResourceAccess: value }));
      const access = (a: object) => [{ resourceAppId: GRAPH_APP_ID, resourceAccess: [a] }];

      const badId = await patch(access({ id: 'User.Read.All', type: 'Role' }));
      expect([badId.statusCode, badId.code]).toEqual([400, 'BadRequest']);
      expect(badId.message).toBe("Cannot convert the literal value of property 'id' to the expected type 'Edm.Guid'.");

      const badType = await patch(access({ id: GRAPH_ROLES['User.Read.All'], type: 'Application' }));
      expect([badType.statusCode, badType.code, badType.message]).toEqual([
        400,
        'Request_BadRequest',
        'Property requiredResourceAccess.resourceAccess is invalid.',
      ]);
      const lowerCase = await patch(access({ id: GRAPH_ROLES['User.Read.All'], type: 'role' }));
      expect(lowerCase.code).toBe('Request_BadRequest');

      const badApp = await patch([{ resourceAppId: 'Microsoft Graph', resourceAccess: [] }]);
      expect([badApp.statusCode, badApp.code, badApp.message]).toEqual([
        400,
        'Request_BadRequest',
        'Property requiredResourceAccess.resourceAppId is invalid.',
      ]);

      for (const wrong of [{}, 'Role', [null], [{ resourceAppId: GRAPH_APP_ID, resourceAccess: {} }]])
        expect((await patch(wrong)).statusCode).toBe(400);
      const extra = await patch(access({ id: GRAPH_ROLES['User.Read.All'], type: 'Role', name: 'User.Read.All' }));
      expect(extra.message).toContain("The property 'name' does not exist on type 'microsoft.graph.resourceAccess'");

      expect((await client.api(`/applications/${app.id}`).get()).requiredResourceAccess).toEqual(rra);
    });
  });

  describe('app role assignments', () => {
    const granter = () => graphClient(h, { roles: GRANTER });
    const assignedTo = (resourceSpId: string) => `/servicePrincipals/${resourceSpId}/appRoleAssignedTo`;

    it('grants with 201 and the appRoleAssignment; the role reaches the principal and both lists', async () => {
      const { sp } = await provisionedApp(h, 'Entra spoke');
      const graph = graphSp(h);
      const raw = (await granter()
        .api(assignedTo(graph.id))
        .responseType(ResponseType.RAW)
        .post(grantBody(h, sp.id, 'User.Read.All'))) as Response;
      expect(raw.status).toBe(201);
      const assignment = (await raw.json()) as Record<string, string>;
      expect(assignment).toEqual({
        '@odata.context': `${h.origin}/v1.0/$metadata#servicePrincipals('${graph.id}')/appRoleAssignedTo/$entity`,
        id: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
        deletedDateTime: null,
        appRoleId: GRAPH_ROLES['User.Read.All'],
        createdDateTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$/),
        principalDisplayName: 'Entra spoke',
        principalId: sp.id,
        principalType: 'ServicePrincipal',
        resourceDisplayName: 'Microsoft Graph',
        resourceId: graph.id,
      });
      // Graph's ids begin with the principal's object id in .NET byte order (the documented samples decode so).
      const head = Buffer.from(assignment.id, 'base64url').subarray(0, 4).reverse().toString('hex');
      expect(sp.id.startsWith(head)).toBe(true);

      // The Entra token endpoint puts assigned roles in app-only tokens' `roles`.
      expect(h.directory.rolesFor(sp.id, graph)).toEqual(['User.Read.All']);

      // The resource SP can be addressed by appId as well.
      const second = await granter()
        .api(`/servicePrincipals(appId='${GRAPH_APP_ID}')/appRoleAssignedTo`)
        .post(grantBody(h, sp.id, 'Group.Read.All'));
      expect(second.appRoleId).toBe(GRAPH_ROLES['Group.Read.All']);
      expect(h.directory.rolesFor(sp.id, graph).sort()).toEqual(['Group.Read.All', 'User.Read.All']);

      const held = await graphClient(h).api(`/servicePrincipals/${sp.id}/appRoleAssignments`).get();
      expect(held['@odata.context']).toBe(
        `${h.origin}/v1.0/$metadata#servicePrincipals('${sp.id}')/appRoleAssignments`,
      );
      expect((held.value as { id: string }[]).map((a) => a.id).sort()).toEqual([assignment.id, second.id].sort());

      const granted = await graphClient(h).api(assignedTo(graph.id)).filter(`principalId eq '${sp.id}'`).get();
      expect((granted.value as { appRoleId: string }[]).map((a) => a.appRoleId).sort()).toEqual(
        [GRAPH_ROLES['Group.Read.All'], GRAPH_ROLES['User.Read.All']].sort(),
      );
      const one = await graphClient(h)
        .api(`${assignedTo(graph.id)}/${assignment.id}`)
        .get();
      expect(one).toMatchObject({ id: assignment.id, principalId: sp.id, appRoleId: GRAPH_ROLES['User.Read.All'] });
    });

    it('lists the grants on Microsoft Graph paged with @odata.nextLink, the seeded ones included', async () => {
      const fn = h.directory.functionIdentity.servicePrincipalId;
      const first = await graphClient(h)
        .api(assignedTo(graphSp(h).id))
        .top(2)
        .get();
      expect(first.value).toHaveLength(2);
      expect(first['@odata.nextLink']).toContain(`/v1.0/servicePrincipals/${graphSp(h).id}/appRoleAssignedTo?`);
      const all = [...first.value];
      for (let next = first['@odata.nextLink']; next;) {
        const page = await graphClient(h).api(next).get();
        all.push(...page.value);
        next = page['@odata.nextLink'];
      }
      const seeded = all.filter((a: { principalId: string }) => a.principalId === fn);
      expect(seeded.map((a: { appRoleId: string }) => a.appRoleId).sort()).toEqual(
        [
          'Application.ReadWrite.OwnedBy',
          'Mail.Send',
          'GroupMember.Read.All',
          'User.ReadBasic.All',
          // The sandbox's identity may give admin consent (GRANT_ADMIN_CONSENT=true in the sandbox).
          'AppRoleAssignment.ReadWrite.All',
          'Application.Read.All',
        ]
          .map((r) => GRAPH_ROLES[r as keyof typeof GRAPH_ROLES])
          .sort(),
      );
    });

    it('answers the documented and observed errors of a grant', async () => {
      const { sp } = await provisionedApp(h, 'Errors');
      const graph = graphSp(h);
      const post = (body: object, path = assignedTo(graph.id)) => failure(granter().api(path).post(body));
      await granter()
        .api(assignedTo(graph.id))
        .post(grantBody(h, sp.id, 'User.ReadWrite.All'));

      const duplicate = await post(grantBody(h, sp.id, 'User.ReadWrite.All'));
      expect([duplicate.statusCode, duplicate.code, duplicate.message]).toEqual([
        400,
        'Request_BadRequest',
        'Permission being assigned already exists on the object',
      ]);

      for (const appRoleId of [USER_READ_ALL_DELEGATED, '00000000-0000-0000-0000-000000000000']) {
        const notOffered = await post({ ...grantBody(h, sp.id, 'User.Read.All'), appRoleId });
        expect([notOffered.statusCode, notOffered.code]).toEqual([400, 'Request_BadRequest']);
        expect(notOffered.message).toMatch(/^Permission being assigned was not found on application/);
      }

      const mismatch = await post({ ...grantBody(h, sp.id, 'User.Read.All'), resourceId: sp.id });
      expect([mismatch.statusCode, mismatch.code, mismatch.message]).toEqual([
        400,
        'Request_BadRequest',
        'Not a valid reference update.',
      ]);
      const noPrincipal = await post(grantBody(h, '11111111-2222-3333-4444-555555555555', 'User.Read.All'));
      expect([noPrincipal.statusCode, noPrincipal.message]).toEqual([400, 'Not a valid reference update.']);

      const unknownResource = '66666666-7777-8888-9999-000000000000';
      const noResource = await post(
        { ...grantBody(h, sp.id, 'User.Read.All'), resourceId: unknownResource },
        assignedTo(unknownResource),
      );
      expect([noResource.statusCode, noResource.code]).toEqual([404, 'Request_ResourceNotFound']);

      const badGuid = await post({ ...grantBody(h, sp.id, 'User.Read.All'), principalId: 'Entra spoke' });
      expect([badGuid.statusCode, badGuid.code]).toEqual([400, 'BadRequest']);
      expect(badGuid.message).toContain("'principalId'");
      const unknownProperty = await post({ ...grantBody(h, sp.id, 'User.Read.All'), scope: 'all' });
      expect(unknownProperty.message).toContain("does not exist on type 'microsoft.graph.appRoleAssignment'");

      expect(h.directory.rolesFor(sp.id, graph)).toEqual(['User.ReadWrite.All']);
    });

    it('needs AppRoleAssignment.ReadWrite.All with a directory read permission (403 Authorization_RequestDenied)', async () => {
      const { sp } = await provisionedApp(h, 'Permissions');
      const graph = graphSp(h);
      const body = grantBody(h, sp.id, 'GroupMember.ReadWrite.All');
      for (const roles of [
        ['Application.ReadWrite.OwnedBy'],
        ['Application.ReadWrite.All'],
        ['AppRoleAssignment.ReadWrite.All'],
      ]) {
        const denied = await failure(graphClient(h, { roles }).api(assignedTo(graph.id)).post(body));
        expect([denied.statusCode, denied.code, denied.message]).toEqual([
          403,
          'Authorization_RequestDenied',
          'Insufficient privileges to complete the operation.',
        ]);
      }
      const granted = await graphClient(h, { roles: ['AppRoleAssignment.ReadWrite.All', 'Directory.Read.All'] })
        .api(assignedTo(graph.id))
        .post(body);

      // Listing takes a read permission; revoking takes AppRoleAssignment.ReadWrite.All.
      const token = await mintToken(h, { roles: ['Mail.Send'] });
      expect((await call(h, 'GET', `/v1.0${assignedTo(graph.id)}`, { token })).status).toBe(403);
      expect((await call(h, 'GET', `/v1.0/servicePrincipals/${sp.id}/appRoleAssignments`, { token })).status).toBe(403);
      const readOnly = await failure(
        graphClient(h, { roles: ['Application.Read.All'] })
          .api(`${assignedTo(graph.id)}/${granted.id}`)
          .delete(),
      );
      expect(readOnly.statusCode).toBe(403);
      await graphClient(h, { roles: ['AppRoleAssignment.ReadWrite.All'] })
        .api(`${assignedTo(graph.id)}/${granted.id}`)
        .delete();
    });

    it('revokes with 204; the role leaves the principal; an unknown assignment is 404', async () => {
      const { sp } = await provisionedApp(h, 'Revoke');
      const graph = graphSp(h);
      const a = await granter()
        .api(assignedTo(graph.id))
        .post(grantBody(h, sp.id, 'Application.Read.All'));
      const raw = (await granter()
        .api(`${assignedTo(graph.id)}/${a.id}`)
        .responseType(ResponseType.RAW)
        .delete()) as Response;
      expect(raw.status).toBe(204);
      expect(await raw.text()).toBe('');
      expect(h.directory.rolesFor(sp.id, graph)).toEqual([]);
      const held = await graphClient(h).api(`/servicePrincipals/${sp.id}/appRoleAssignments`).get();
      expect(held.value).toEqual([]);
      const again = await failure(
        granter()
          .api(`${assignedTo(graph.id)}/${a.id}`)
          .delete(),
      );
      expect([again.statusCode, again.code]).toEqual([404, 'Request_ResourceNotFound']);
      // Granting it again works once revoked.
      await granter()
        .api(assignedTo(graph.id))
        .post(grantBody(h, sp.id, 'Application.Read.All'));
    });

    it('deleting the application deletes its service principal and the app role assignments with it', async () => {
      const { app, sp } = await provisionedApp(h, 'Cascade');
      const graph = graphSp(h);
      await granter()
        .api(assignedTo(graph.id))
        .post(grantBody(h, sp.id, 'User.Read.All'));
      await graphClient(h).api(`/applications/${app.id}`).delete();
      expect(h.directory.rolesFor(sp.id, graph)).toEqual([]);
      expect(h.directory.appRoleAssignments.filter((x) => x.principalId === sp.id)).toEqual([]);
      expect((await failure(graphClient(h).api(`/servicePrincipals/${sp.id}`).get())).statusCode).toBe(404);
      // Restoring the application does not bring the service principal (or its grants) back.
      await graphClient(h).api(`/directory/deletedItems/${app.id}/restore`).post({});
      expect(h.directory.spByAppId(app.appId)).toBeUndefined();
    });

    it('journals the new routes, and an injected fault answers on them; the graph client retries a 503', async () => {
      const { sp } = await provisionedApp(h, 'Faults');
      const graph = graphSp(h);
      const path = `^/v1.0/servicePrincipals/[^/]+/appRoleAssignedTo$`;
      h.faults.add({ service: 'graph', method: 'POST', path, action: { type: 'status', status: 503 }, times: 1 });
      const token = await mintToken(h, { roles: GRANTER });
      const refused = await call(h, 'POST', `/v1.0${assignedTo(graph.id)}`, {
        token,
        body: grantBody(h, sp.id, 'User.Read.All'),
      });
      expect(refused.status).toBe(503);
      expect(refused.json.error.code).toBe('serviceNotAvailable');
      expect(h.directory.rolesFor(sp.id, graph)).toEqual([]);

      h.faults.add({ service: 'graph', method: 'POST', path, action: { type: 'status', status: 503 }, times: 1 });
      const mark = h.journal.mark();
      await granter()
        .api(assignedTo(graph.id))
        .post(grantBody(h, sp.id, 'User.Read.All'));
      const entries = h.journal.entries({ since: mark });
      expect(entries.map((e) => [e.method, e.path, e.status, e.fault])).toEqual([
        ['POST', `/v1.0/servicePrincipals/${graph.id}/appRoleAssignedTo`, 503, 'status 503'],
        ['POST', `/v1.0/servicePrincipals/${graph.id}/appRoleAssignedTo`, 201, undefined],
      ]);
      expect(entries[1].body).toEqual(grantBody(h, sp.id, 'User.Read.All'));
      expect(h.directory.rolesFor(sp.id, graph)).toEqual(['User.Read.All']);
    });
  });
});

describe('graph stand-in: app role assignments and eventual consistency', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startGraph({ replicationDelayMs: 10_000 });
  });
  afterAll(() => h.close());

  it('answers 400 "Not a valid reference update." for a principal not replicated yet, then grants', async () => {
    const client = graphClient(h);
    const app = await client.api('/applications').post({ displayName: 'Fresh' });
    h.clock.advance(10_000);
    const sp = await client.api('/servicePrincipals').post({ appId: app.appId });
    expect(sp.id).toMatch(GUID);
    const granter = graphClient(h, { roles: GRANTER });
    const path = `/servicePrincipals/${graphSp(h).id}/appRoleAssignedTo`;
    const early = await failure(granter.api(path).post(grantBody(h, sp.id, 'User.Read.All')));
    expect([early.statusCode, early.code, early.message]).toEqual([
      400,
      'Request_BadRequest',
      'Not a valid reference update.',
    ]);
    h.clock.advance(10_000);
    const granted = await granter.api(path).post(grantBody(h, sp.id, 'User.Read.All'));
    expect(granted.principalId).toBe(sp.id);
  });
});
