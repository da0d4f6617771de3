import { ResponseType, type GraphError } from '@microsoft/microsoft-graph-client';

import { type Harness, call, graphClient, mintToken, otherCaller, startGraph } from './helpers';

/** Runs a graph-client call expected to fail and returns the client's GraphError. */
async function failure(p: Promise<unknown>): Promise<GraphError> {
  try {
    await p;
  } catch (err) {
    return err as GraphError;
  }
  throw new Error('expected the call to fail');
}

const appBody = (name: string) => ({
  displayName: name,
  signInAudience: 'AzureADMyOrg',
  tags: ['sn-m365-support', 'sn-role:outbound'],
  web: { redirectUris: ['https://contoso.service-now.com/auth_redirect.do'] },
  notes: 'Managed by the setup Function App',
});

describe('graph stand-in: applications', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startGraph();
  });
  afterAll(() => h.close());

  it('upserts by uniqueName: 201 with the object, then 204 without a body', async () => {
    const client = graphClient(h);
    const api = () =>
      client
        .api(`/applications(uniqueName='sn-outbound-contoso')`)
        .header('Prefer', 'create-if-missing')
        .responseType(ResponseType.RAW);
    const first = (await api().patch(appBody('Outbound'))) as Response;
    expect(first.status).toBe(201);
    const app = (await first.json()) as { id: string; appId: string; '@odata.context': string };
    expect(app).toMatchObject({ displayName: 'Outbound', uniqueName: 'sn-outbound-contoso', passwordCredentials: [] });
    expect(app['@odata.context']).toMatch(/\$metadata#applications\/\$entity$/);
    const second = (await api().patch({ displayName: 'Outbound (renamed)' })) as Response;
    expect(second.status).toBe(204);
    expect(await second.text()).toBe('');
    const read = await client.api(`/applications/${app.id}`).get();
    expect(read.displayName).toBe('Outbound (renamed)');
    // The creating OwnedBy identity became the owner.
    expect(h.directory.applications.get(app.id)?.owners).toEqual([h.directory.functionIdentity.servicePrincipalId]);
  });

  it('answers 404 for an upsert of a missing uniqueName without Prefer', async () => {
    const err = await failure(graphClient(h).api(`/applications(uniqueName='nope')`).patch({ displayName: 'x' }));
    expect(err.statusCode).toBe(404);
    expect(err.code).toBe('Request_ResourceNotFound');
  });

  it('creates with POST, reads by appId with $select, updates and deletes', async () => {
    const client = graphClient(h);
    const app = await client.api('/applications').post(appBody('Rest API'));
    expect(app.appId).toMatch(/^[0-9a-f-]{36}$/);
    const selected = await client
      .api(`/applications(appId='${app.appId}')`)
      .select(['id', 'appId', 'displayName'])
      .get();
    expect(Object.keys(selected).sort()).toEqual(['@odata.context', 'appId', 'displayName', 'id']);
    await client.api(`/applications/${app.id}`).patch({ notes: 'changed' });
    expect((await client.api(`/applications/${app.id}`).get()).notes).toBe('changed');
    await client.api(`/applications/${app.id}`).delete();
    expect((await failure(client.api(`/applications/${app.id}`).get())).statusCode).toBe(404);
  });

  it('refuses unknown and read-only properties, and passwordCredentials, with 400', async () => {
    const client = graphClient(h);
    const unknown = await failure(client.api('/applications').post({ displayName: 'x', colour: 'red' }));
    expect(unknown.statusCode).toBe(400);
    expect(unknown.message).toContain("The property 'colour' does not exist on type 'microsoft.graph.application'");
    const pwd = await failure(
      client.api('/applications').post({ displayName: 'x', passwordCredentials: [{ displayName: 'p' }] }),
    );
    expect(pwd.statusCode).toBe(400);
    const ro = await failure(client.api('/applications').post({ displayName: 'x', appId: 'mine' }));
    expect(ro.statusCode).toBe(400);
  });

  it('filters by tags and appId, selects, and pages with @odata.nextLink', async () => {
    const client = graphClient(h);
    const created = [];
    for (const n of ['Page A', 'Page B', 'Page C'])
      created.push(await client.api('/applications').post({ displayName: n, tags: ['paging-test'] }));
    const byTag = await client.api('/applications').filter("tags/any(t:t eq 'paging-test')").top(2).get();
    expect(byTag.value).toHaveLength(2);
    expect(byTag['@odata.nextLink']).toContain(h.origin);
    const rest = await client.api(byTag['@odata.nextLink']).get();
    expect(rest.value).toHaveLength(1);
    expect(rest['@odata.nextLink']).toBeUndefined();
    const names = [...byTag.value, ...rest.value].map((a: { displayName: string }) => a.displayName).sort();
    expect(names).toEqual(['Page A', 'Page B', 'Page C']);
    const byAppId = await client
      .api('/applications')
      .filter(`appId eq '${created[1].appId}'`)
      .select(['id', 'displayName'])
      .get();
    expect(byAppId.value).toEqual([{ id: created[1].id, displayName: 'Page B' }]);
    const starts = await client.api('/applications').filter("startswith(displayName,'page ')").get();
    expect(starts.value).toHaveLength(3);
  });

  it('answers unsupported filters and bad $top with Graph errors', async () => {
    const client = graphClient(h);
    const unsupported = await failure(client.api('/applications').filter("notes eq 'x'").get());
    expect(unsupported.statusCode).toBe(400);
    expect(unsupported.code).toBe('Request_UnsupportedQuery');
    expect(unsupported.message).toBe(
      "Unsupported or invalid query filter clause specified for property 'notes' of resource 'Application'.",
    );
    const ne = await failure(client.api('/applications').filter("displayName ne 'x'").get());
    expect(ne.message).toBe("Unsupported property filter clause operator 'NotEqualsMatch'.");
    const top = await failure(client.api('/applications').top(0).get());
    expect(top.statusCode).toBe(400);
  });

  it('moves deleted apps to deleted items and restores them', async () => {
    const client = graphClient(h);
    const app = await client.api('/applications').post({ displayName: 'To delete' });
    await client.api(`/applications/${app.id}`).delete();
    const deleted = await client.api('/directory/deletedItems/microsoft.graph.application').get();
    expect(deleted.value.map((a: { id: string }) => a.id)).toContain(app.id);
    const restored = await client.api(`/directory/deletedItems/${app.id}/restore`).post({});
    expect(restored).toMatchObject({ id: app.id, deletedDateTime: null });
    expect((await client.api(`/applications/${app.id}`).get()).id).toBe(app.id);
    await client.api(`/applications/${app.id}`).delete();
    await client.api(`/directory/deletedItems/${app.id}`).delete();
    expect((await failure(client.api(`/directory/deletedItems/${app.id}`).get())).statusCode).toBe(404);
  });
});

describe('graph stand-in: advanced queries ($count)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startGraph();
    const client = graphClient(h);
    for (const n of ['Count A', 'Count B', 'Other C'])
      await client.api('/applications').post({ displayName: n, tags: ['count-test'] });
  });
  afterAll(() => h.close());

  const countTagged = "tags/any(t:t eq 'count-test')";

  it('returns @odata.count for ?$count=true only with ConsistencyLevel: eventual', async () => {
    const client = graphClient(h);
    // Without the header the query still succeeds, silently without the count (aad-advanced-queries).
    const plain = await client.api('/applications').filter(countTagged).count(true).get();
    expect(plain.value).toHaveLength(3);
    expect(Object.keys(plain)).not.toContain('@odata.count');
    const eventual = await client
      .api('/applications')
      .header('ConsistencyLevel', 'eventual')
      .filter(countTagged)
      .count(true)
      .top(1)
      .get();
    expect(eventual['@odata.count']).toBe(3);
    expect(eventual.value).toHaveLength(1);
    // The header alone does not ask for a count.
    const headerOnly = await client
      .api('/applications')
      .header('ConsistencyLevel', 'eventual')
      .filter(countTagged)
      .get();
    expect(Object.keys(headerOnly)).not.toContain('@odata.count');
  });

  it('answers the /$count segment as text/plain with the header, 400 Request_UnsupportedQuery without it', async () => {
    const client = graphClient(h);
    const missing = await failure(client.api('/applications/$count').get());
    expect([missing.statusCode, missing.code]).toEqual([400, 'Request_UnsupportedQuery']);
    expect(missing.message).toBe(
      "Raw count (/$count) is not supported because the 'ConsistencyLevel:eventual' header is missing. Refer to https://aka.ms/graph-docs/advanced-queries for more information",
    );
    const token = await mintToken(h);
    const raw = await call(
      h,
      'GET',
      `/v1.0/applications/$count?$filter=${encodeURIComponent("startswith(displayName,'count ')")}`,
      {
        token,
        headers: { ConsistencyLevel: 'eventual' },
      },
    );
    expect(raw.status).toBe(200);
    expect(raw.headers['content-type']).toMatch(/^text\/plain/);
    expect(raw.text).toBe('2');
    const total = await client.api('/servicePrincipals/$count').header('ConsistencyLevel', 'eventual').get();
    expect(Number(total)).toBe(h.directory.servicePrincipals.size);
    expect((await failure(client.api('/servicePrincipals/$count').get())).code).toBe('Request_UnsupportedQuery');
  });

  it('accepts ne only as an advanced query: the header and $count=true together', async () => {
    const client = graphClient(h);
    const headerOnly = await failure(
      client.api('/applications').header('ConsistencyLevel', 'eventual').filter("displayName ne 'Count A'").get(),
    );
    expect(headerOnly.message).toBe("Unsupported property filter clause operator 'NotEqualsMatch'.");
    const advanced = await client
      .api('/applications')
      .header('ConsistencyLevel', 'eventual')
      .filter(`${countTagged} and displayName ne 'Count A'`)
      .count(true)
      .get();
    expect(advanced['@odata.count']).toBe(2);
  });
});

describe('graph stand-in: passwords and ownership', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startGraph({ maxPasswordLifetimeDays: 180 });
  });
  afterAll(() => h.close());

  it('returns secretText once from addPassword and never on reads; removePassword deletes it', async () => {
    const client = graphClient(h);
    const app = await client.api('/applications').post({ displayName: 'Secret holder' });
    const end = new Date(h.clock.now() + 90 * 24 * 3600 * 1000).toISOString();
    const cred = await client
      .api(`/applications(appId='${app.appId}')/addPassword`)
      .post({ passwordCredential: { displayName: 'rotation-1', endDateTime: end } });
    expect(cred.secretText).toMatch(/^.{40}$/);
    expect(cred.hint).toBe(cred.secretText.slice(0, 3));
    expect(cred.customKeyIdentifier).toBeNull();
    const read = await client.api(`/applications/${app.id}`).get();
    expect(read.passwordCredentials).toEqual([
      expect.objectContaining({ keyId: cred.keyId, displayName: 'rotation-1', hint: cred.hint, secretText: null }),
    ]);
    expect(JSON.stringify(read)).not.toContain(cred.secretText);
    const list = await client.api('/applications').filter(`appId eq '${app.appId}'`).get();
    expect(JSON.stringify(list)).not.toContain(cred.secretText);
    await client.api(`/applications/${app.id}/removePassword`).post({ keyId: cred.keyId });
    expect((await client.api(`/applications/${app.id}`).get()).passwordCredentials).toEqual([]);
    const again = await failure(client.api(`/applications/${app.id}/removePassword`).post({ keyId: cred.keyId }));
    expect(again.statusCode).toBe(400);
    // The journal's redacted view never holds the secret (it only lives in the raw response body, in-process).
    expect(JSON.stringify(h.journal.entries())).not.toContain(cred.secretText);
  });

  it('refuses a lifetime longer than the tenant policy (including the 2-year default)', async () => {
    const client = graphClient(h);
    const app = await client.api('/applications').post({ displayName: 'Policy bound' });
    const err = await failure(client.api(`/applications/${app.id}/addPassword`).post({ passwordCredential: {} }));
    expect(err.statusCode).toBe(400);
    expect(err.code).toBe('CredentialInvalidLifetimeAsPerAppPolicy');
    expect(err.message).toMatch(/^Credential lifetime exceeds the max value allowed as per assigned policy '/);
    expect(h.directory.applications.get(app.id)?.passwordCredentials).toEqual([]);
  });

  it('lets OwnedBy list and read an app it does not own but not change it (403)', async () => {
    const admin = graphClient(h, otherCaller(h, ['Application.ReadWrite.All']));
    const foreign = await admin.api('/applications').post({ displayName: 'Not ours', tags: ['foreign'] });
    const client = graphClient(h);
    const listed = await client.api('/applications').filter("tags/any(t:t eq 'foreign')").get();
    expect(listed.value.map((a: { id: string }) => a.id)).toEqual([foreign.id]);
    expect((await client.api(`/applications/${foreign.id}`).get()).id).toBe(foreign.id);
    for (const attempt of [
      client.api(`/applications/${foreign.id}`).patch({ notes: 'mine now' }),
      client.api(`/applications/${foreign.id}/addPassword`).post({}),
      client.api(`/applications/${foreign.id}`).delete(),
      client.api('/servicePrincipals').post({ appId: foreign.appId }),
    ]) {
      const err = await failure(attempt);
      expect([err.statusCode, err.code, err.message]).toEqual([
        403,
        'Authorization_RequestDenied',
        'Insufficient privileges to complete the operation.',
      ]);
    }
    // Application.ReadWrite.All may.
    const cred = await admin
      .api(`/applications/${foreign.id}/addPassword`)
      .post({ passwordCredential: { endDateTime: new Date(h.clock.now() + 86400000).toISOString() } });
    expect(typeof cred.secretText).toBe('string');
  });
});

describe('graph stand-in: eventual consistency', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startGraph({ replicationDelayMs: 10_000 });
  });
  afterAll(() => h.close());

  it('answers 404 for a fresh app and 400 NoBackingApplicationObject for its SP until replicated', async () => {
    const client = graphClient(h);
    const created = (await client
      .api(`/applications(uniqueName='replica-test')`)
      .header('Prefer', 'create-if-missing')
      .responseType(ResponseType.RAW)
      .patch({ displayName: 'Replica' })) as Response;
    const app = (await created.json()) as { id: string; appId: string };
    const notYet = await failure(client.api(`/applications/${app.id}`).get());
    expect(notYet.statusCode).toBe(404);
    expect(notYet.code).toBe('Request_ResourceNotFound');
    expect(notYet.message).toBe(
      `Resource '${app.id}' does not exist or one of its queried reference-property objects are not present.`,
    );
    expect((await failure(client.api(`/applications/${app.id}/addPassword`).post({}))).statusCode).toBe(404);
    const sp = await failure(client.api('/servicePrincipals').post({ appId: app.appId }));
    expect(sp.statusCode).toBe(400);
    expect(JSON.parse(sp.body as string).details[0].code).toBe('NoBackingApplicationObject');
    // The upsert addresses it by alternate key on the write path: still 204.
    const upsert = (await client
      .api(`/applications(uniqueName='replica-test')`)
      .header('Prefer', 'create-if-missing')
      .responseType(ResponseType.RAW)
      .patch({ displayName: 'Replica' })) as Response;
    expect(upsert.status).toBe(204);

    h.clock.advance(10_000);
    expect((await client.api(`/applications/${app.id}`).get()).id).toBe(app.id);
    const created201 = await client.api('/servicePrincipals').post({ appId: app.appId });
    expect(created201).toMatchObject({ appId: app.appId, displayName: 'Replica' });
    const spUpsert = (await client
      .api(`/servicePrincipals(appId='${app.appId}')`)
      .header('Prefer', 'create-if-missing')
      .responseType(ResponseType.RAW)
      .patch({ tags: ['x'] })) as Response;
    expect(spUpsert.status).toBe(204);
    const found = await client.api('/servicePrincipals').filter(`appId eq '${app.appId}'`).get();
    expect(found.value).toHaveLength(1);
    h.clock.advance(10_000);
    await client.api(`/servicePrincipals/${created201.id}`).delete();
    expect((await failure(client.api(`/servicePrincipals(appId='${app.appId}')`).get())).statusCode).toBe(404);
  });
});

describe('graph stand-in: service principal upsert and update', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startGraph();
  });
  afterAll(() => h.close());

  const upsert = (appId: string, body: object) =>
    graphClient(h)
      .api(`/servicePrincipals(appId='${appId}')`)
      .header('Prefer', 'create-if-missing')
      .responseType(ResponseType.RAW)
      .patch(body) as Promise<Response>;

  it('creates with the documented body {displayName} and applies writable properties on update', async () => {
    const client = graphClient(h);
    const app = await client.api('/applications').post({ displayName: 'My App' });
    // The upsert page's example: 201, displayName from the body, appDisplayName from the application.
    const created = await upsert(app.appId, { displayName: 'My app instance', tags: ['sn-m365-support'] });
    expect(created.status).toBe(201);
    const sp = (await created.json()) as Record<string, unknown>;
    expect(sp).toMatchObject({
      appId: app.appId,
      displayName: 'My app instance',
      appDisplayName: 'My App',
      tags: ['sn-m365-support'],
    });
    const updated = await upsert(app.appId, {
      displayName: 'Renamed instance',
      tags: ['a', 'b'],
      appRoleAssignmentRequired: true,
      notes: 'managed',
    });
    expect(updated.status).toBe(204);
    const read = await client.api(`/servicePrincipals(appId='${app.appId}')`).get();
    expect(read).toMatchObject({
      displayName: 'Renamed instance',
      appDisplayName: 'My App',
      tags: ['a', 'b'],
      appRoleAssignmentRequired: true,
      notes: 'managed',
    });
    // The plain update by object id takes the same body.
    await client.api(`/servicePrincipals/${sp.id as string}`).patch({ displayName: 'By id' });
    expect((await client.api(`/servicePrincipals/${sp.id as string}`).get()).displayName).toBe('By id');
    const byName = await client.api('/servicePrincipals').filter("displayName eq 'By id'").get();
    expect(byName.value).toHaveLength(1);
  });

  it('still refuses read-only and unknown properties, and customSecurityAttributes without its permission', async () => {
    const client = graphClient(h);
    const app = await client.api('/applications').post({ displayName: 'Refusals' });
    const readOnly = await failure(
      client
        .api(`/servicePrincipals(appId='${app.appId}')`)
        .header('Prefer', 'create-if-missing')
        .patch({ appDisplayName: 'x' }),
    );
    expect([readOnly.statusCode, readOnly.code]).toEqual([400, 'Request_BadRequest']);
    const unknown = await failure(
      client
        .api(`/servicePrincipals(appId='${app.appId}')`)
        .header('Prefer', 'create-if-missing')
        .patch({ colour: 'red' }),
    );
    expect(unknown.statusCode).toBe(400);
    const csa = await failure(
      client
        .api(`/servicePrincipals(appId='${app.appId}')`)
        .header('Prefer', 'create-if-missing')
        .patch({ customSecurityAttributes: { Engineering: { ProjectDate: '2022-10-01' } } }),
    );
    expect([csa.statusCode, csa.code]).toEqual([403, 'Authorization_RequestDenied']);
    expect(h.directory.spByAppId(app.appId)).toBeUndefined();
  });
});

describe('graph stand-in: auth, mail, wire errors and faults', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startGraph();
  });
  afterAll(() => h.close());
  beforeEach(() => h.faults.clear());

  it('answers 401 InvalidAuthenticationToken for missing, wrong-audience and expired tokens', async () => {
    const missing = await call(h, 'GET', '/v1.0/applications');
    expect(missing.status).toBe(401);
    expect(missing.json.error).toMatchObject({ code: 'InvalidAuthenticationToken', message: 'Access token is empty.' });
    expect(Object.keys(missing.json.error.innerError).sort()).toEqual(['client-request-id', 'date', 'request-id']);
    const wrongAud = await failure(graphClient(h, { aud: 'https://vault.azure.net' }).api('/applications').get());
    expect([wrongAud.statusCode, wrongAud.code, wrongAud.message]).toEqual([
      401,
      'InvalidAuthenticationToken',
      'Access token validation failure. Invalid audience.',
    ]);
    const token = await mintToken(h, { expiresInSeconds: 60 });
    h.clock.advance(61_000);
    const expired = await call(h, 'GET', '/v1.0/applications', { token });
    expect(expired.status).toBe(401);
    expect(expired.json.error.message).toBe('Lifetime validation failed, the token is expired.');
    // The sandbox origin is accepted as the Graph resource identifier.
    expect((await graphClient(h, { aud: h.origin }).api('/applications').get()).value).toBeDefined();
  });

  it('sends mail into the outbox with 202, from the user and at sandbox time', async () => {
    const client = graphClient(h);
    const message = {
      subject: 'Approve ServiceNow integration setup',
      body: { contentType: 'HTML', content: '<p>Review</p>' },
      toRecipients: [{ emailAddress: { address: 'admin@contoso.com', name: 'Admin' } }],
    };
    h.clock.advance(3_600_000);
    const res = (await client
      .api(`/users/${h.directory.mailSender}/sendMail`)
      .responseType(ResponseType.RAW)
      .post({ message, saveToSentItems: false })) as Response;
    expect(res.status).toBe(202);
    expect(await res.text()).toBe('');
    expect(h.graph.outbox).toHaveLength(1);
    expect(h.graph.outbox[0]).toMatchObject({ from: h.directory.mailSender, message });
    expect(Math.abs(Date.parse(h.graph.outbox[0].at) - h.clock.now())).toBeLessThan(5_000);
    expect(Date.parse(h.graph.outbox[0].at) - Date.now()).toBeGreaterThan(3_000_000);
  });

  it('refuses sendMail without Mail.Send (403), to unknown users (404), on /me (400) and without recipients', async () => {
    const noMail = await failure(
      graphClient(h, { roles: ['Application.ReadWrite.OwnedBy'] })
        .api(`/users/${h.directory.mailSender}/sendMail`)
        .post({ message: { toRecipients: [{ emailAddress: { address: 'a@b.c' } }] } }),
    );
    expect([noMail.statusCode, noMail.code]).toEqual([403, 'ErrorAccessDenied']);
    const client = graphClient(h);
    const msg = { message: { subject: 's', toRecipients: [{ emailAddress: { address: 'a@b.c' } }] } };
    const unknown = await failure(client.api('/users/ghost@contoso.onmicrosoft.com/sendMail').post(msg));
    expect([unknown.statusCode, unknown.code]).toEqual([404, 'ErrorInvalidUser']);
    const me = await failure(client.api('/me/sendMail').post(msg));
    expect([me.statusCode, me.message]).toEqual([400, '/me request is only valid with delegated authentication flow.']);
    const noTo = await failure(
      client.api(`/users/${h.directory.mailSender}/sendMail`).post({ message: { subject: 's' } }),
    );
    expect(noTo.statusCode).toBe(400);
    const badType = await failure(
      client
        .api(`/users/${h.directory.mailSender}/sendMail`)
        .post({ message: { ...msg.message, body: { contentType: 'Markdown', content: 'x' } } }),
    );
    expect(badType.statusCode).toBe(400);
    expect(h.graph.outbox.filter((m) => (m.message as { subject?: string }).subject === 's')).toHaveLength(0);
  });

  it('accepts custom x- internet message headers and refuses any other name with InvalidInternetMessageHeader', async () => {
    const client = graphClient(h);
    const send = (headers: unknown) =>
      client
        .api(`/users/${h.directory.mailSender}/sendMail`)
        .responseType(ResponseType.RAW)
        .post({
          message: {
            subject: 'headers',
            toRecipients: [{ emailAddress: { address: 'a@b.c' } }],
            internetMessageHeaders: headers,
          },
        }) as Promise<Response>;
    const ok = await send([
      { name: 'x-sn-integration', value: 'sn-dev00000' },
      { name: 'X-Custom-Run', value: '42' },
    ]);
    expect(ok.status).toBe(202);
    const before = h.graph.outbox.length;
    const refused = await send([{ name: 'In-Reply-To', value: '<abc@contoso.com>' }]);
    expect(refused.status).toBe(400);
    const body = (await refused.json()) as { error: { code: string; message: string } };
    expect(body.error).toMatchObject({
      code: 'InvalidInternetMessageHeader',
      message: "The internet message header name 'In-Reply-To' should start with 'x-' or 'X-'.",
    });
    expect(h.graph.outbox).toHaveLength(before);
    const extra = await send([{ name: 'x-a', value: 'b', colour: 'red' }]);
    expect(extra.status).toBe(400);
  });

  it('answers bad JSON, unknown routes and wrong methods with Graph errors, never 500', async () => {
    const token = await mintToken(h);
    const badJson = await call(h, 'POST', '/v1.0/applications', { token, body: '{"displayName":' });
    expect(badJson.status).toBe(400);
    expect(badJson.json.error.code).toBe('BadRequest');
    const unknown = await call(h, 'GET', '/v1.0/widgets', { token });
    expect(unknown.status).toBe(400);
    expect(unknown.json.error.message).toBe("Resource not found for the segment 'widgets'.");
    const version = await call(h, 'GET', '/v9/applications', { token });
    expect(version.status).toBe(400);
    const method = await call(h, 'PUT', '/v1.0/applications', { token, body: {} });
    expect(method.status).toBe(405);
    const badId = await call(h, 'GET', '/v1.0/applications/not-a-guid', { token });
    expect(badId.status).toBe(400);
    const badFilter = await call(h, 'GET', `/v1.0/applications?$filter=${encodeURIComponent("displayName eq 'x")}`, {
      token,
    });
    expect(badFilter.status).toBe(400);
    for (const r of [badJson, unknown, version, method, badId, badFilter])
      expect(r.json.error.innerError).toBeDefined();
  });

  it('serves an injected 429 with Retry-After and the documented body; the graph client retries it', async () => {
    h.faults.add({ service: 'graph', path: '^/v1.0/applications$', action: { type: 'status', status: 429 }, times: 1 });
    const raw = await call(h, 'GET', '/v1.0/applications', { token: await mintToken(h) });
    expect(raw.status).toBe(429);
    expect(raw.headers['retry-after']).toBe('1');
    expect(raw.json.error).toMatchObject({ code: 'TooManyRequests', message: 'Please retry again later.' });

    h.faults.add({ service: 'graph', path: '^/v1.0/applications$', action: { type: 'status', status: 429 }, times: 1 });
    const list = await graphClient(h).api('/applications').get();
    expect(Array.isArray(list.value)).toBe(true);
    const statuses = h.journal
      .entries()
      .slice(-2)
      .map((e) => e.status);
    expect(statuses).toEqual([429, 200]);
  });

  it('serves 503 with the service-unavailable body', async () => {
    h.faults.add({ service: 'graph', action: { type: 'status', status: 503 }, times: 1 });
    const r = await call(h, 'GET', '/v1.0/applications', { token: await mintToken(h) });
    expect(r.status).toBe(503);
    expect(r.headers['retry-after']).toBe('1');
    expect(r.json.error.code).toBe('serviceNotAvailable');
  });
});
