/**
 * Activity `ensureServiceNowCertificate`: the ServiceNow records that let the instance sign private_key_jwt client
 * assertions with one Key Vault certificate version, and the oauth_entity pointed at them
 * (https://www.servicenow.com/docs/r/platform-security/authentication/config-private-key-jwt-outbound-oauth.html,
 * `JWT-Bearer-token-support`, `platform-administration/config-jwt-credential-flow`).
 *
 * Chain, each record ensured by its natural key through `ensureServiceNowRecord` (ownership in the ledger):
 *   sys_certificate (name `m365-snow {integrationId} {role} {kvVersion}`, PKCS12, created inactive)
 *   → jwt_keystore_aliases (same name; signing_keystore, kid, rsa_256, the x5t column)
 *   → jwt_provider (`m365-snow {integrationId} {role}`; rotation re-points its key)
 *   → jwt_claim_validation rows aud (= the exact token URL), iss = sub = client id (is_standard)
 *   → the oauth_entity: send_client_credentials_as = the "As Private Key JWT" value, the JWT-provider column = the
 *     provider, client_secret cleared.
 *
 * The keystore: the PFX Key Vault holds (exportable, no password) is re-wrapped as a single-entry PKCS12 (the instance
 * uses the first alias) with a fresh random password, 3DES-encrypted (PBE-SHA1-3DES), the PKCS12 protection every Java
 * release reads (the JDK only moved its own default to PBES2/AES in 11.0.12 / 8u301, JDK-8153005; older instance JVMs
 * read AES-protected stores only from then on). The password is written to the certificate's `key_store_password` and
 * the JWT key's `signing_key_password` (password2, each in its own PATCH) before the upload, and goes nowhere else:
 * not logged, returned or thrown (registered for redaction). The store is uploaded with the Attachment API while the
 * certificate is inactive (KB1217702: an active invalid certificate breaks connection tests), then what the instance
 * reports after parsing it (`expires` = the certificate's notAfter) decides whether it is activated.
 *
 * Overlapping executions: the keystore step runs under the ledger's insert lock of (sys_attachment, certificate), so
 * one execution writes password and store at a time; a store that already validates is left alone, one that does
 * not (a run stopped between the password and the upload) is replaced with a fresh password.
 */
import { randomBytes } from 'node:crypto';

import type forge from 'node-forge';

import type { CertificateKeys } from '../clients/certificate-keys';
import { encodedQuery, type ServiceNowClient, type SnRecord } from '../clients/servicenow';
import {
  serviceNowKeystoreName,
  serviceNowProviderName,
  type EnsureServiceNowCertificateInput,
  type EnsureServiceNowCertificateResult,
} from '../contracts/credentials';
import type { EnsureRecordActivityInput, ManualAction, Outcome, RecordResult } from '../contracts/provision';
import type { Deps } from '../app/deps';
import { AppError } from '../lib/errors';
import { registerSecret } from '../lib/redact';
import type { InsertLock } from '../registry/ownership';
import { failureOrThrow, inputFailure, servicenowFailure } from './failures';
import { type ActivityLog, logLine } from './log';
import { lookup, text } from './servicenow-common';
import { ensureServiceNowRecord } from './servicenow-record';

const MANUAL = 'System Definition > Certificates; System OAuth > JWT Keys / JWT Providers / Application Registry';

/** The Key Vault implementation (deps.certificateKeys), or a clear configuration error when the app has none. */
export function certificateKeysOf(deps: Deps): CertificateKeys {
  const keys = (deps as Deps & { certificateKeys?: CertificateKeys }).certificateKeys;
  if (!keys) throw new AppError('no certificate keys client is configured (deps.certificateKeys)', 'ConfigError');
  return keys;
}

/** node-forge, loaded on first use (only this activity needs it: not at cold start), as src/clients/*.ts load SDKs. */
function loadForge(): typeof forge {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy load, see above
  return require('node-forge') as typeof forge;
}

/**
 * Re-wraps a PFX (no password, as Key Vault exports it) as a single-entry PKCS12: the leaf certificate and its key,
 * protected with `password` (PBE-SHA1-3DES, SHA-1 MAC). Throws when the PFX holds no key or no certificate.
 */
export function rewrapPkcs12(pfx: Buffer, password: string, friendlyName: string): Buffer {
  const forge = loadForge();
  const asn1 = forge.asn1.fromDer(forge.util.createBuffer(pfx.toString('binary')));
  let p12: forge.pkcs12.Pkcs12Pfx | undefined;
  for (const pw of ['', null]) {
    try {
      p12 = forge.pkcs12.pkcs12FromAsn1(asn1, false, pw as string);
      break;
    } catch {
      // next candidate
    }
  }
  if (!p12) throw new AppError('the PFX from Key Vault cannot be read without a password', 'InvalidKeystore');
  const keyBag =
    p12.getBags({ bagType: forge.pki.oids.pkcs8ShroudedKeyBag })[forge.pki.oids.pkcs8ShroudedKeyBag]?.[0] ??
    p12.getBags({ bagType: forge.pki.oids.keyBag })[forge.pki.oids.keyBag]?.[0];
  const certs = (p12.getBags({ bagType: forge.pki.oids.certBag })[forge.pki.oids.certBag] ?? []).flatMap((b) =>
    b.cert ? [b.cert] : [],
  );
  const key = keyBag?.key;
  if (!key || !certs.length)
    throw new AppError('the PFX from Key Vault has no key or no certificate', 'InvalidKeystore');
  // The leaf: the certificate whose public modulus is the key's.
  const leaf = certs.find((c) => (c.publicKey as forge.pki.rsa.PublicKey).n?.equals(key.n)) ?? certs[0];
  const out = forge.pkcs12.toPkcs12Asn1(key, [leaf], password, { algorithm: '3des', friendlyName });
  return Buffer.from(forge.asn1.toDer(out).getBytes(), 'binary');
}

/**
 * True when the `expires` the instance reports is the certificate's notAfter. The Table API gives date-times as UTC
 * "YYYY-MM-DD HH:mm:ss" (compared to the second); whether the column is a date or a date-time is not documented
 * [inferred], so a date alone is compared to notAfter's UTC date.
 */
export function expiresMatches(expires: string, notAfterIso: string): boolean {
  const notAfter = new Date(notAfterIso).toISOString().replace('T', ' ');
  if (/^\d{4}-\d{2}-\d{2}$/.test(expires)) return expires === notAfter.slice(0, 10);
  return /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/.test(expires) && expires === notAfter.slice(0, 19);
}

type Step = { ok: true; result: RecordResult } | { ok: false; out: Outcome<EnsureServiceNowCertificateResult> };

export async function ensureServiceNowCertificate(
  input: EnsureServiceNowCertificateInput,
  deps: Deps,
  log?: ActivityLog,
): Promise<Outcome<EnsureServiceNowCertificateResult>> {
  for (const [k, v] of Object.entries({
    role: input.role,
    version: input.version,
    x5t: input.x5t,
    clientId: input.clientId,
    tokenUrl: input.tokenUrl,
    sendAsValue: input.sendAsValue,
    providerColumn: input.providerColumn,
  }))
    if (typeof v !== 'string' || v === '' || /[\^\r\n]/.test(v))
      return inputFailure('InvalidInput', `${k} is missing or invalid`);
  if (!/^[0-9a-f]{32}$/.test(input.oauthEntity?.sysId ?? ''))
    return inputFailure('InvalidInput', 'oauthEntity.sysId is invalid');

  const records: RecordResult[] = [];
  const keystoreName = serviceNowKeystoreName(input.integrationId, input.role, input.version);
  const providerName = serviceNowProviderName(input.integrationId, input.role);
  const owner = {
    integrationId: input.integrationId,
    instanceId: input.instanceId,
    profileId: input.profileId,
    tenant: input.tenant,
    tenantName: input.tenantName,
    serviceNowInstance: input.serviceNowInstance,
  };
  const ensure = async (
    key: string,
    table: string,
    naturalKey: Record<string, string>,
    fields: Record<string, string>,
  ): Promise<Step> => {
    const theirs = table === 'jwt_claim_validation' ? undefined : await foreign(key, table, naturalKey);
    if (theirs)
      return {
        ok: false,
        out: servicenowFailure(
          'NotOurs',
          `${table} ${theirs} '${naturalKey.name}' exists and is not this integration's (no run of ${input.integrationId} created it); left as it is, remove or rename it to go on`,
        ),
      };
    const rec: EnsureRecordActivityInput = { ...owner, key, table, naturalKey, fields, manualFallback: MANUAL };
    const r = await ensureServiceNowRecord(rec, deps, log);
    if (!r.ok) return { ok: false, out: r };
    const { ok: _ok, ...result } = r;
    records.push(result);
    if (result.manualAction || !result.sysId)
      return {
        ok: false,
        out: partial(result.manualAction ?? handOff(`ServiceNow did not return the ${table} record`)),
      };
    return { ok: true, result };
  };
  /**
   * The natural keys of the chain are names anyone on the instance can compute: a record of such a name that no run of
   * this integration created (the ownership ledger) is someone else's, never re-pointed or given our keystore. The
   * claims live under our provider. A claim of this run without its sys_id yet is an overlapping execution's insert.
   */
  const foreign = async (key: string, table: string, naturalKey: Record<string, string>) => {
    const found = await lookup(deps.serviceNow(input.serviceNowInstance), table, naturalKey, []);
    const sysId = found.matched.length === 1 ? text(found.matched[0].sys_id) : undefined;
    if (!sysId) return undefined; // none (created below), or several (ensureServiceNowRecord names them)
    if (await deps.ownership.findClaim(input.integrationId, table, sysId)) return undefined;
    const mine = await deps.ownership.getClaim(input.integrationId, key, input.instanceId);
    return mine?.createdRun === input.instanceId && (mine.sysId === '' || mine.sysId === sysId) ? undefined : sysId;
  };
  const partial = (manualAction: ManualAction): Outcome<EnsureServiceNowCertificateResult> => ({
    ok: true,
    certificateSysId: records.find((r) => r.table === 'sys_certificate')?.sysId ?? '',
    keystoreAliasSysId: records.find((r) => r.table === 'jwt_keystore_aliases')?.sysId ?? '',
    providerSysId: records.find((r) => r.table === 'jwt_provider')?.sysId ?? '',
    switched: false,
    records,
    manualAction,
  });
  const handOff = (title: string): ManualAction => ({
    title,
    actor: 'ServiceNow administrator',
    steps: [
      { label: 'Certificate (PKCS12 Key Store)', value: keystoreName },
      { label: 'Key Vault certificate', value: `${input.certificateName} version ${input.version}` },
      { label: 'JWT key x5t', value: input.x5t },
      { label: 'JWT provider', value: providerName },
      { label: 'aud', value: input.tokenUrl },
      { label: 'iss / sub', value: input.clientId },
    ],
  });

  let lock: InsertLock | undefined;
  try {
    const client = deps.serviceNow(input.serviceNowInstance);
    const thumbprintColumn = input.thumbprintColumn ?? (await findThumbprintColumn(client));
    if (!thumbprintColumn)
      return servicenowFailure('Unsupported', 'jwt_keystore_aliases has no x5t thumbprint column on this instance');
    const facts = await certificateKeysOf(deps).publicCertificate({
      certificateName: input.certificateName,
      version: input.version,
    });
    if (facts.x5t !== input.x5t)
      return inputFailure(
        'ThumbprintMismatch',
        `x5t ${input.x5t} is not the thumbprint of ${input.certificateName} ${input.version}`,
      );

    // Someone else's provider of our name: refused before anything is written (each record is checked again below).
    const theirProvider = await foreign(`jwtProvider:${input.role}`, 'jwt_provider', { name: providerName });
    if (theirProvider)
      return servicenowFailure(
        'NotOurs',
        `jwt_provider ${theirProvider} '${providerName}' exists and is not this integration's (no run of ${input.integrationId} created it); left as it is, remove or rename it to go on`,
      );

    // 1. The certificate record: inserted inactive (an active invalid one breaks connection tests, KB1217702).
    const existing = await lookup(client, 'sys_certificate', { name: keystoreName }, ['active']);
    const cert = await ensure(
      `certificate:${input.role}:${input.version}`,
      'sys_certificate',
      { name: keystoreName },
      {
        type: 'pkcs12_key_store',
        short_description: `Key Vault certificate ${input.certificateName} version ${input.version} (m365-snow-provisioner)`,
        ...(existing.matched.length ? {} : { active: 'false' }),
      },
    );
    if (!cert.ok) return cert.out;
    const certSysId = cert.result.sysId!;

    // 2. The JWT key (before the store: its password is written with the certificate's).
    const alias = await ensure(
      `jwtKey:${input.role}:${input.version}`,
      'jwt_keystore_aliases',
      { name: keystoreName },
      {
        signing_keystore: certSysId,
        kid: input.x5t,
        signing_algorithm: 'rsa_256',
        [thumbprintColumn]: input.x5t,
        active: 'true',
      },
    );
    if (!alias.ok) return alias.out;
    const aliasSysId = alias.result.sysId!;

    // 3. The keystore, one execution at a time.
    lock = await deps.ownership.lockInsert(
      input.serviceNowInstance,
      'sys_attachment',
      { table_sys_id: certSysId },
      input.instanceId,
      60_000,
    );
    const state = async () => {
      const row = await client.get('sys_certificate', certSysId, { fields: ['expires', 'active'] });
      return { expires: text(row?.expires) ?? '', active: text(row?.active) === 'true' };
    };
    let now = await state();
    const attachments = await client.listAttachments('sys_certificate', certSysId);
    if (!expiresMatches(now.expires, facts.notAfter) || attachments.length !== 1) {
      if (now.active) await client.patch('sys_certificate', certSysId, { active: 'false' }, { fields: ['sys_id'] });
      for (const a of attachments) {
        const id = text(a.sys_id);
        if (id) await client.removeAttachment(id);
      }
      const password = randomBytes(24).toString('base64url');
      registerSecret(password);
      const store = rewrapPkcs12(
        await certificateKeysOf(deps).exportPkcs12({ certificateName: input.certificateName, version: input.version }),
        password,
        keystoreName,
      );
      await client.setPassword2('jwt_keystore_aliases', aliasSysId, 'signing_key_password', password);
      await client.setPassword2('sys_certificate', certSysId, 'key_store_password', password);
      await client.uploadAttachment(
        'sys_certificate',
        certSysId,
        `${keystoreName.replace(/[^A-Za-z0-9._-]+/g, '-')}.p12`,
        'application/x-pkcs12',
        store,
      );
      logLine(log, 'info', `sys_certificate ${certSysId}: keystore uploaded (single entry, password-protected)`);
      now = await state();
      if (!expiresMatches(now.expires, facts.notAfter))
        return servicenowFailure(
          'KeystoreInvalid',
          `ServiceNow did not validate the keystore of sys_certificate ${certSysId} (expires '${now.expires}', expected ${facts.notAfter}); it stays inactive`,
        );
    }
    if (!now.active) {
      await client.patch('sys_certificate', certSysId, { active: 'true' }, { fields: ['sys_id'] });
      logLine(log, 'info', `sys_certificate ${certSysId}: validated (expires ${now.expires}), activated`);
    }
    await deps.ownership.unlockInsert(lock).catch(() => undefined);
    lock = undefined;

    // 4. The provider and its claims.
    const provider = await ensure(
      `jwtProvider:${input.role}`,
      'jwt_provider',
      { name: providerName },
      {
        jwt_keystore_aliases: aliasSysId,
        active: 'true',
      },
    );
    if (!provider.ok) return provider.out;
    const providerSysId = provider.result.sysId!;
    for (const [name, value] of [
      ['aud', input.tokenUrl],
      ['iss', input.clientId],
      ['sub', input.clientId],
    ]) {
      const claim = await ensure(
        `jwtClaim:${input.role}:${name}`,
        'jwt_claim_validation',
        { jwt_provider: providerSysId, name },
        {
          value,
          is_standard: 'true',
        },
      );
      if (!claim.ok) return claim.out;
    }

    // 5. The oauth_entity switched to the provider; its client secret cleared (unless the caller switches it later).
    if (input.switchEntity === false)
      return {
        ok: true,
        certificateSysId: certSysId,
        keystoreAliasSysId: aliasSysId,
        providerSysId,
        switched: false,
        records,
      };
    const { table, sysId } = input.oauthEntity;
    const entity = await client.get<SnRecord>(table, sysId, {
      fields: ['sys_id', 'send_client_credentials_as', input.providerColumn, 'client_secret'],
    });
    if (!entity) return servicenowFailure('NotFound', `${table} ${sysId} does not exist`);
    const change: Record<string, string> = {};
    if (text(entity.send_client_credentials_as) !== input.sendAsValue)
      change.send_client_credentials_as = input.sendAsValue;
    if (text(entity[input.providerColumn]) !== providerSysId) change[input.providerColumn] = providerSysId;
    if (Object.keys(change).length) {
      await client.patch(table, sysId, change, { fields: ['sys_id'] });
      logLine(log, 'info', `${table} ${sysId}: now sends a private key JWT (provider ${providerSysId})`);
    }
    if ((text(entity.client_secret) ?? '') !== '') await client.setPassword2(table, sysId, 'client_secret', '');
    return {
      ok: true,
      certificateSysId: certSysId,
      keystoreAliasSysId: aliasSysId,
      providerSysId,
      switched: Object.keys(change).length > 0,
      records,
    };
  } catch (err) {
    if (err instanceof AppError && err.code === 'InvalidKeystore')
      return { ok: false, failure: { service: 'keyvault', code: err.code, message: err.message } };
    return { ok: false, failure: failureOrThrow(err) };
  } finally {
    if (lock) await deps.ownership.unlockInsert(lock).catch(() => undefined);
  }
}

async function findThumbprintColumn(client: ServiceNowClient): Promise<string | undefined> {
  const cols = await client.list('sys_dictionary', {
    query: encodedQuery().eq('name', 'jwt_keystore_aliases'),
    fields: ['element', 'column_label'],
    maxRecords: 2000,
    pageSize: 500,
  });
  return text(cols.find((c) => /\(x5t\)/i.test(text(c.column_label) ?? ''))?.element) || undefined;
}
