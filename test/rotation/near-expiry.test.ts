import { parseNearExpiry, SECRET_NEAR_EXPIRY } from '../../src/rotation/near-expiry';

describe('parseNearExpiry', () => {
  it('reads the Event Grid schema with the documented PascalCase data keys', () => {
    expect(
      parseNearExpiry({
        id: 'e1',
        topic: '/subscriptions/x/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv',
        subject: 'sn-dev-outbound',
        eventType: SECRET_NEAR_EXPIRY,
        eventTime: '2027-03-15T02:00:00Z',
        data: {
          Id: 'https://kv.vault.azure.net/secrets/sn-dev-outbound/abc',
          VaultName: 'kv',
          ObjectType: 'Secret',
          ObjectName: 'sn-dev-outbound',
          Version: 'abc',
          NBF: null,
          EXP: 1805000000,
        },
        dataVersion: '1',
        metadataVersion: '1',
      }),
    ).toEqual({ secretName: 'sn-dev-outbound', version: 'abc', expiresOn: new Date(1805000000 * 1000) });
  });

  it('reads the CloudEvents schema and camelCase keys (SDK models)', () => {
    expect(
      parseNearExpiry({
        specversion: '1.0',
        type: 'microsoft.keyvault.secretnearexpiry',
        subject: 'sn-dev-restapi',
        data: { objectType: 'secret', objectName: 'sn-dev-restapi', version: 'v9', exp: '1805000000' },
      }),
    ).toEqual({ secretName: 'sn-dev-restapi', version: 'v9', expiresOn: new Date(1805000000 * 1000) });
  });

  it('falls back to the subject for the secret name', () => {
    expect(parseNearExpiry({ eventType: SECRET_NEAR_EXPIRY, subject: 'sn-dev-x', data: {} })).toEqual({
      secretName: 'sn-dev-x',
    });
  });

  it.each([
    ['another event type', { eventType: 'Microsoft.KeyVault.SecretNewVersionCreated', subject: 'a', data: {} }],
    [
      'a key, not a secret',
      { eventType: SECRET_NEAR_EXPIRY, subject: 'k', data: { ObjectType: 'Key', ObjectName: 'k' } },
    ],
    ['no name', { eventType: SECRET_NEAR_EXPIRY, data: {} }],
    ['a name that is not a secret name', { eventType: SECRET_NEAR_EXPIRY, subject: '../x', data: {} }],
    ['not an object', 'Microsoft.KeyVault.SecretNearExpiry'],
  ])('ignores %s', (_label, event) => {
    expect(parseNearExpiry(event)).toBeUndefined();
  });
});
