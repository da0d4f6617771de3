/**
 * What the registry records for the credential inventory (src/activities/registry.ts applyUpdate): the Key Vault
 * version's creation time and the consumer confirmations belong to one credential; a new credential starts without
 * the old one's, and a confirmation of another credential is not recorded.
 */
import { applyUpdate } from '../../src/activities/registry';
import type { SecretResult } from '../../src/contracts/provision';
import type { IntegrationRecord } from '../../src/registry/types';

const record = (): IntegrationRecord => ({
  id: 'sn-dev1-0123abcd',
  profile: 'm365-support-aad',
  tenant: 't',
  tenantName: 'T',
  serviceNowInstance: 'dev1',
  status: 'active',
  instanceId: 'provision-sn-dev1-0123abcd',
  apps: { outbound: { appId: 'a', objectId: 'o', secretName: 's' } },
  serviceNow: {},
  checks: [],
  createdAt: '2026-12-01T00:00:00.000Z',
  updatedAt: '2026-12-01T00:00:00.000Z',
});
const secret = (keyId: string, createdOn?: string): SecretResult => ({
  role: 'outbound',
  secretName: 's',
  version: `v-${keyId}`,
  keyId,
  expiresOn: '2027-06-01T00:00:00.000Z',
  ...(createdOn ? { createdOn } : {}),
  created: true,
});
const confirmation = (keyId: string, consumer: string, by = 'system') => ({
  role: 'outbound',
  consumer,
  keyId,
  at: '2026-12-01T00:00:05.000Z',
  by,
});

describe('recording credential facts on the registry row', () => {
  it('records the creation time and the confirmations of the credential in use', () => {
    const r = applyUpdate(record(), {
      integrationId: 'x',
      at: '2026-12-01T00:00:10.000Z',
      secrets: [secret('k1', '2026-12-01T00:00:00.000Z')],
      confirmations: [confirmation('k1', 'servicenow:outboundProvider.client_secret'), confirmation('k0', 'old')],
    });
    expect(r.apps.outbound).toMatchObject({ keyId: 'k1', createdOn: '2026-12-01T00:00:00.000Z' });
    expect(r.apps.outbound.confirmations).toEqual([
      {
        consumer: 'servicenow:outboundProvider.client_secret',
        keyId: 'k1',
        at: '2026-12-01T00:00:05.000Z',
        by: 'system',
      },
    ]);
    // The same credential again (a re-run that adopted it, without a time): both stay; a repeated confirmation is one.
    const again = applyUpdate(r, {
      integrationId: 'x',
      at: '2026-12-02T00:00:00.000Z',
      secrets: [secret('k1')],
      confirmations: [confirmation('k1', 'servicenow:outboundProvider.client_secret')],
    });
    expect(again.apps.outbound.createdOn).toBe('2026-12-01T00:00:00.000Z');
    expect(again.apps.outbound.confirmations).toHaveLength(1);
    // A new credential (rotation): the old one's time and confirmations go.
    const rotated = applyUpdate(again, {
      integrationId: 'x',
      at: '2026-12-03T00:00:00.000Z',
      secrets: [secret('k2')],
    });
    expect(rotated.apps.outbound.keyId).toBe('k2');
    expect(rotated.apps.outbound.createdOn).toBeUndefined();
    expect(rotated.apps.outbound.confirmations).toBeUndefined();
    const confirmed = applyUpdate(rotated, {
      integrationId: 'x',
      at: '2026-12-03T00:00:01.000Z',
      confirmations: [confirmation('k2', 'manual:admin center / Client secret', 'approver@contoso.com')],
    });
    expect(confirmed.apps.outbound.confirmations).toEqual([
      expect.objectContaining({ keyId: 'k2', by: 'approver@contoso.com' }),
    ]);
  });
});
