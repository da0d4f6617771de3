/**
 * Two integrations on one ServiceNow instance cannot harm each other: they provision at the same time, one is
 * approved and one rejected; the rejected one's rollback writes nothing to the other's records (request journal),
 * leaves the cross-scope privileges both need in place, and the approved one stays active with every check green.
 *
 * The second integration uses a copy of the seed profile under another id (the integration id derives from tenant,
 * instance and profile, and the sandbox has one tenant), registered for this test only.
 */
import { registerProfile } from '../../src/profiles';
import { m365SupportAad } from '../../src/profiles/m365-support-aad';
import type { LocalStack } from '../../sandbox/stack';
import {
  api,
  approverOf,
  decideFromEmail,
  requestFor,
  runToApproval,
  runToEnd,
  startProvisioning,
  startStackFor,
  view,
} from '../e2e/stack-driver';

jest.setTimeout(180_000);

const COPY_ID = 'm365-support-aad-copy';

describe('two integrations on one instance', () => {
  let stack: LocalStack;
  let unregister: (() => void) | undefined;
  const instance = 'shared00001';

  beforeAll(async () => {
    unregister = registerProfile({ ...m365SupportAad, id: COPY_ID, title: `${m365SupportAad.title} (copy)` });
    stack = await startStackFor(['dev00000', instance]);
  });
  afterAll(async () => {
    unregister?.();
    await stack?.close();
  });

  it("one rejected, the other's records untouched and its checks green", async () => {
    const [kept, rejected] = await Promise.all([
      startProvisioning(stack, requestFor(stack, instance)),
      startProvisioning(stack, requestFor(stack, instance, { profile: COPY_ID })),
    ]);
    expect(kept).not.toBe(rejected);
    await Promise.all([runToApproval(stack, kept), runToApproval(stack, rejected)]);

    expect((await decideFromEmail(stack, approverOf(stack), kept, 'approve')).status).toBe(200);
    await runToEnd(stack, kept);
    const keptView = (await view(stack, kept)) as unknown as {
      status: string;
      checks: { ok: boolean }[];
      created: { serviceNow: Record<string, string> };
    };
    expect(keptView.status).toBe('active');
    const keptSysIds = Object.values(keptView.created.serviceNow);
    expect(keptSysIds.length).toBeGreaterThanOrEqual(5);
    const privileges = () =>
      stack.sandbox.servicenow
        .records(instance, 'sys_scope_privilege')
        .filter((r) => r.values.target_name?.startsWith('oauth_entity'));
    expect(privileges()).toHaveLength(2);

    const mark = stack.sandbox.journal.mark();
    expect((await decideFromEmail(stack, approverOf(stack), rejected, 'reject')).status).toBe(200);
    await runToEnd(stack, rejected);
    expect((await view(stack, rejected)).status).toBe('rejected');
    const touched = stack.sandbox.journal
      .writes({ service: 'servicenow', since: mark })
      .filter((e) => keptSysIds.some((sysId) => e.path.includes(sysId)));
    expect(touched).toEqual([]);
    expect(privileges()).toHaveLength(2);
    const tables = [
      'oauth_entity',
      'oauth_entity_profile',
      'oidc_provider_configuration',
      'oauth_oidc_entity',
      'sys_user',
      'sys_user_has_role',
      'sys_scope_privilege',
    ];
    const exists = (sysId: string) =>
      tables.some((t) => stack.sandbox.servicenow.records(instance, t).some((r) => r.values.sys_id === sysId));
    expect(keptSysIds.filter((sysId) => !exists(sysId))).toEqual([]);

    // The approved integration still works end to end: its checks run again in a silent re-provisioning.
    const res = await api(stack, 'POST', '/api/integrations?reprovision=true', { body: requestFor(stack, instance) });
    expect(res.status).toBe(202);
    await runToEnd(stack, kept);
    const again = (await view(stack, kept)) as unknown as { status: string; checks: { ok: boolean }[] };
    expect(again.status).toBe('active');
    expect(again.checks.every((c) => c.ok)).toBe(true);
  });
});
