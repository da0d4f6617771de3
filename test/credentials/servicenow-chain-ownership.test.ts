/**
 * The ServiceNow records of a certificate chain are found by natural keys anyone on the instance can compute (the
 * integration id is derived from tenant, instance and profile): a record of that name that this integration did not
 * create (another team's, or planted) is never adopted, re-pointed or filled with our keystore.
 */
import { randomUUID } from 'node:crypto';

import { ensureServiceNowCertificate } from '../../src/activities/servicenow-certificate';
import { serviceNowCredentialSupport } from '../../src/activities/servicenow-credential-support';
import type { Deps } from '../../src/app/deps';
import { serviceNowProviderName } from '../../src/contracts/credentials';
import { startActivityEnv, type ActivityEnv } from '../helpers/activity-env';
import { LocalCertificateKeys } from '../helpers/local-certificate-keys';

const WASHINGTON = 'wdc00002';
let env: ActivityEnv;
let deps: Deps;
const keys = new LocalCertificateKeys();

beforeAll(async () => {
  env = await startActivityEnv({
    servicenow: { instances: [WASHINGTON], releases: { [WASHINGTON]: 'washingtondc' } },
  });
  deps = { ...env.deps, certificateKeys: keys };
});
afterAll(async () => env?.close());

const sn = () => env.sandbox.servicenow;
const row = (table: string, sysId: string) =>
  sn()
    .records(WASHINGTON, table)
    .find((r) => r.values.sys_id === sysId)?.values;

it("leaves another team's jwt_provider of our name as it is, and does not point our OAuth provider at it", async () => {
  const ref = env.ref({ serviceNowInstance: WASHINGTON });
  const s = await serviceNowCredentialSupport({ serviceNowInstance: WASHINGTON, table: 'oauth_entity' }, deps);
  if (!s.ok) throw new Error(JSON.stringify(s.failure));
  // The other team's chain: their keystore alias and a provider that carries our name, used by their OAuth entity.
  const theirAlias = sn().seedRecord(WASHINGTON, 'jwt_keystore_aliases', { name: 'their signing key', active: 'true' });
  const theirProvider = sn().seedRecord(WASHINGTON, 'jwt_provider', {
    name: serviceNowProviderName(ref.integrationId, 'outbound'),
    jwt_keystore_aliases: theirAlias,
    active: 'true',
  });
  const appId = randomUUID();
  const tokenUrl = `https://login.microsoftonline.com/${env.sandbox.directory.tenantId}/oauth2/v2.0/token`;
  const ours = sn().seedRecord(WASHINGTON, 'oauth_entity', {
    name: 'our outbound',
    type: 'oauth_provider',
    client_id: appId,
    default_grant_type: 'client_credentials',
    token_url: tokenUrl,
    send_client_credentials_as: 'request_body_parameter',
    client_secret: 'our-client-secret',
  });
  const cert = keys.create(`${ref.integrationId}-outbound-cert`);
  const pub = await keys.publicCertificate(cert);

  const r = await ensureServiceNowCertificate(
    {
      ...ref,
      serviceNowInstance: WASHINGTON,
      role: 'outbound',
      certificateName: cert.certificateName,
      version: cert.version,
      x5t: pub.x5t,
      clientId: appId,
      tokenUrl,
      oauthEntity: { table: 'oauth_entity', sysId: ours },
      sendAsValue: s.certificate.sendAsValue!,
      providerColumn: s.certificate.providerColumn!,
      thumbprintColumn: s.certificate.thumbprintColumn!,
    },
    deps,
  );
  // Their provider still signs with their key; no claim of ours was added under it.
  expect(row('jwt_provider', theirProvider)?.jwt_keystore_aliases).toBe(theirAlias);
  expect(
    sn()
      .records(WASHINGTON, 'jwt_claim_validation')
      .filter((c) => c.values.jwt_provider === theirProvider),
  ).toEqual([]);
  // Our OAuth provider was not pointed at theirs, and was not switched.
  expect(sn().credentialModeOf(WASHINGTON, ours)).toBe('secret');
  expect(row('oauth_entity', ours)?.[s.certificate.providerColumn!] ?? '').not.toBe(theirProvider);
  // Nothing of the chain was written before the refusal.
  expect(
    sn()
      .records(WASHINGTON, 'sys_certificate')
      .filter((c) => c.values.name?.startsWith(`m365-snow ${ref.integrationId}`)),
  ).toEqual([]);
  // The run says why: a hand-off naming the record, or a failure.
  expect(r.ok ? r.manualAction?.title : r.failure.message).toMatch(/not this integration's/);
});
