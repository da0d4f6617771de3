/**
 * Activities for the app's non-secret credentials in Entra: certificates (key credentials), federated identity
 * credentials, and the removal of the client secrets they replace. Graph calls go through `deps.graph` (graphCall);
 * the certificate's public part and every signature come from `deps.certificateKeys` (the private key stays in Key
 * Vault). Inputs and results carry ids, names, versions and thumbprints only.
 *
 * - registerCertificate: idempotent by the certificate's thumbprint, which Graph stores as the key credential's
 *   `customKeyIdentifier` (https://learn.microsoft.com/graph/api/resources/keycredential). The first certificate (or
 *   when no registered certificate is valid to sign a proof) goes in by `PATCH /applications/{id}` with the whole
 *   `keyCredentials` collection read back through `$select=keyCredentials` (the only read that returns `key`,
 *   https://learn.microsoft.com/graph/api/application-update); later ones by `addKey` with a proof of possession signed
 *   by a valid registered certificate (https://learn.microsoft.com/graph/api/application-addkey,
 *   https://learn.microsoft.com/graph/application-rollkey-prooftoken). Application.ReadWrite.OwnedBy suffices for the
 *   apps we own.
 * - removeCertificate: `removeKey` with a proof; absent → removed false.
 * - ensureFederatedCredential: by name; a same-named credential with other values is patched back
 *   (https://learn.microsoft.com/graph/api/resources/federatedidentitycredential).
 * - removeClientSecrets: `removePassword` for each of the product's keyIds still on the app.
 */
import { createHash, randomUUID } from 'node:crypto';

import type { Deps } from '../app/deps';
import { graphCall } from '../clients/graph';
import type {
  CertificateRef,
  EnsureFederatedCredentialInput,
  EnsureFederatedCredentialResult,
  RegisterCertificateInput,
  RegisterCertificateResult,
  RemoveCertificateInput,
  RemoveCertificateResult,
  RemoveClientSecretsInput,
  RemoveClientSecretsResult,
} from '../contracts/credentials';
import type { Outcome } from '../contracts/provision';
import { httpStatusOf } from '../lib/errors';
import { credentialDisplayName } from './entra-graph';
import { failureOrThrow, inputFailure, retriable } from './failures';
import { type ActivityLog, logLine } from './log';

/** The audience of a proof of possession (https://learn.microsoft.com/graph/application-rollkey-prooftoken). */
export const PROOF_AUDIENCE = '00000002-0000-0000-c000-000000000000';
/** A proof lives at most 10 minutes; nbf is set a minute back for clock skew. */
const PROOF_LIFETIME_S = 600;
const PROOF_BACKDATE_S = 60;

interface GraphKeyCredential {
  keyId: string;
  type: string;
  usage: string;
  key: string | null;
  displayName: string | null;
  customKeyIdentifier: string | null;
  startDateTime: string;
  endDateTime: string;
}

interface GraphFic {
  id: string;
  name: string;
  issuer: string;
  subject: string;
  audiences: string[];
}

const appPath = (objectId: string) => `/applications/${encodeURIComponent(objectId)}`;

async function readKeyCredentials(deps: Deps, objectId: string): Promise<GraphKeyCredential[]> {
  const res = await graphCall<{ keyCredentials?: GraphKeyCredential[] }>(
    deps.graph,
    'GET',
    `${appPath(objectId)}?$select=keyCredentials`,
  );
  return res.body?.keyCredentials ?? [];
}

const sameThumbprint = (c: GraphKeyCredential, hex: string) =>
  typeof c.customKeyIdentifier === 'string' && c.customKeyIdentifier.toUpperCase() === hex.toUpperCase();

const validAt = (c: GraphKeyCredential, now: number) =>
  c.type === 'AsymmetricX509Cert' && Date.parse(c.startDateTime) <= now && now < Date.parse(c.endDateTime);

/** A credential as it must be sent back in a PATCH (Graph replaces the whole collection). */
function sendBack(c: GraphKeyCredential): Record<string, unknown> {
  if (!c.key)
    throw retriable('KeyCredentialUnreadable', `key credential ${c.keyId} came back without its key; not patching`);
  return {
    keyId: c.keyId,
    type: c.type,
    usage: c.usage,
    key: c.key,
    displayName: c.displayName,
    ...(c.customKeyIdentifier ? { customKeyIdentifier: c.customKeyIdentifier } : {}),
    startDateTime: c.startDateTime,
    endDateTime: c.endDateTime,
  };
}

/** A proof of possession signed through deps.certificateKeys with `ref` (a certificate registered and valid). */
async function proofToken(deps: Deps, objectId: string, ref: CertificateRef): Promise<string> {
  const facts = await deps.certificateKeys.publicCertificate(ref);
  const nbf = Math.floor(deps.now().getTime() / 1000) - PROOF_BACKDATE_S;
  return deps.certificateKeys.signJwt(
    ref,
    'RS256',
    { x5t: facts.x5t },
    { aud: PROOF_AUDIENCE, iss: objectId, nbf, exp: nbf + PROOF_LIFETIME_S, jti: randomUUID() },
  );
}

/** Whether `ref` is a certificate registered on the app and valid now (so it can sign a proof). */
async function canProve(deps: Deps, creds: GraphKeyCredential[], ref: CertificateRef | undefined): Promise<boolean> {
  if (!ref) return false;
  const facts = await deps.certificateKeys.publicCertificate(ref);
  const now = deps.now().getTime();
  return creds.some((c) => sameThumbprint(c, facts.thumbprintHex) && validAt(c, now));
}

async function removeKeyWithProof(
  deps: Deps,
  objectId: string,
  keyId: string,
  proof: CertificateRef,
): Promise<boolean> {
  try {
    await graphCall(deps.graph, 'POST', `${appPath(objectId)}/removeKey`, {
      keyId,
      proof: await proofToken(deps, objectId, proof),
    });
    return true;
  } catch (err) {
    // Removed meanwhile by an overlapping run: what matters is that it is gone.
    if (httpStatusOf(err) === 400 && !(await readKeyCredentials(deps, objectId)).some((c) => c.keyId === keyId))
      return false;
    throw err;
  }
}

/** A name-based UUID (RFC 9562 section 5.5 layout: SHA-1, version 5) for the app's key credential of a certificate. */
export function keyIdFor(appObjectId: string, thumbprintHex: string): string {
  const h = createHash('sha1').update(`${appObjectId.toLowerCase()}:${thumbprintHex.toUpperCase()}`).digest();
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

export async function registerCertificate(
  input: RegisterCertificateInput,
  deps: Deps,
  log?: ActivityLog,
): Promise<Outcome<RegisterCertificateResult>> {
  const ref: CertificateRef = { certificateName: input.certificateName, version: input.version };
  try {
    const facts = await deps.certificateKeys.publicCertificate(ref);
    const before = await readKeyCredentials(deps, input.appObjectId);
    const found = before.filter((c) => sameThumbprint(c, facts.thumbprintHex));
    if (found.length) {
      const keyId = await keepOne(deps, input.appObjectId, found, ref, log);
      logLine(log, 'info', `certificate ${facts.thumbprintHex} already registered on ${input.appId} (${keyId})`);
      return { ok: true, keyId, added: false };
    }
    const entry = {
      type: 'AsymmetricX509Cert',
      usage: 'Verify',
      key: facts.cerBase64,
      // Shown in the portal's "Certificates & secrets"; ownership is the thumbprint of our Key Vault certificate.
      displayName: credentialDisplayName(`${input.integrationId}:${input.role}`),
    };
    if (await canProve(deps, before, input.proof)) {
      await graphCall(deps.graph, 'POST', `${appPath(input.appObjectId)}/addKey`, {
        keyCredential: entry,
        passwordCredential: null,
        proof: await proofToken(deps, input.appObjectId, input.proof as CertificateRef),
      });
    } else {
      // PATCH replaces the collection: every credential read above goes back with its key. Graph has no ETag or
      // If-Match for application updates, so a writer that adds a key between our read and our PATCH loses it (a
      // lost update). The re-read below detects it for our own key (then the durable retry runs this again); a
      // concurrent writer's key can only be protected by that writer's own read-back. Residual risk: a key added by
      // someone else in that window, who does not read back, silently disappears; the window is one round trip, and
      // the product itself adds keys only here (under the same thumbprint, which converges) or with addKey.
      // The keyId is ours to give (keyCredential `keyId`, https://learn.microsoft.com/graph/api/resources/keycredential):
      // derived from the app and the thumbprint, two overlapping PATCHes of the same certificate write the same key
      // credential, so whichever lands last, every run reports the keyId that stays.
      await graphCall(deps.graph, 'PATCH', appPath(input.appObjectId), {
        keyCredentials: [
          ...before.map(sendBack),
          { ...entry, keyId: keyIdFor(input.appObjectId, facts.thumbprintHex) },
        ],
      });
    }
    const after = (await readKeyCredentials(deps, input.appObjectId)).filter((c) =>
      sameThumbprint(c, facts.thumbprintHex),
    );
    if (!after.length)
      throw retriable(
        'KeyCredentialLost',
        `certificate ${facts.thumbprintHex} is not on ${input.appId} after writing it`,
      );
    const keyId = await keepOne(deps, input.appObjectId, after, ref, log);
    logLine(log, 'info', `registered certificate ${facts.thumbprintHex} on ${input.appId} (${keyId})`);
    return { ok: true, keyId, added: true };
  } catch (err) {
    return { ok: false, failure: failureOrThrow(err) };
  }
}

/**
 * Two overlapping runs that both found the certificate missing may both add it (addKey): one key credential per
 * thumbprint is kept, the one with the smallest keyId, so every run converges on the same one; the others are removed
 * with a proof signed by the certificate itself (registered and valid now).
 */
async function keepOne(
  deps: Deps,
  objectId: string,
  found: GraphKeyCredential[],
  ref: CertificateRef,
  log?: ActivityLog,
): Promise<string> {
  const sorted = [...found].sort((a, b) => a.keyId.localeCompare(b.keyId));
  for (const extra of sorted.slice(1)) {
    await removeKeyWithProof(deps, objectId, extra.keyId, ref);
    logLine(log, 'warn', `removed duplicate key credential ${extra.keyId} of the same certificate`);
  }
  return sorted[0].keyId;
}

export async function removeCertificate(
  input: RemoveCertificateInput,
  deps: Deps,
  log?: ActivityLog,
): Promise<Outcome<RemoveCertificateResult>> {
  try {
    const creds = await readKeyCredentials(deps, input.appObjectId);
    if (!creds.some((c) => c.keyId === input.keyId)) return { ok: true, removed: false };
    let removed: boolean;
    if (await canProve(deps, creds, input.proof)) {
      removed = await removeKeyWithProof(deps, input.appObjectId, input.keyId, input.proof);
    } else {
      // No valid certificate to prove with (expired): PATCH without it (same lost-update window as registerCertificate).
      await graphCall(deps.graph, 'PATCH', appPath(input.appObjectId), {
        keyCredentials: creds.filter((c) => c.keyId !== input.keyId).map(sendBack),
      });
      removed = true;
    }
    if ((await readKeyCredentials(deps, input.appObjectId)).some((c) => c.keyId === input.keyId))
      throw retriable('KeyCredentialStillPresent', `key credential ${input.keyId} is still on the app`);
    logLine(log, 'info', `key credential ${input.keyId} ${removed ? 'removed' : 'was already gone'}`);
    return { ok: true, removed };
  } catch (err) {
    return { ok: false, failure: failureOrThrow(err) };
  }
}

const ficPath = (objectId: string) => `${appPath(objectId)}/federatedIdentityCredentials`;

async function ficByName(deps: Deps, objectId: string, name: string): Promise<GraphFic | undefined> {
  const res = await graphCall<{ value?: GraphFic[] }>(deps.graph, 'GET', ficPath(objectId));
  return (res.body?.value ?? []).find((f) => f.name === name);
}

export async function ensureFederatedCredential(
  input: EnsureFederatedCredentialInput,
  deps: Deps,
  log?: ActivityLog,
): Promise<Outcome<EnsureFederatedCredentialResult>> {
  if (input.audiences.length !== 1 || !input.audiences[0])
    return inputFailure('InvalidAudiences', 'a federated identity credential takes exactly one audience');
  if (!input.name || !input.issuer || !input.subject)
    return inputFailure('InvalidFederatedCredential', 'name, issuer and subject are required');
  try {
    let current = await ficByName(deps, input.appObjectId, input.name);
    if (!current) {
      try {
        const res = await graphCall<GraphFic>(deps.graph, 'POST', ficPath(input.appObjectId), {
          name: input.name,
          issuer: input.issuer,
          subject: input.subject,
          audiences: [...input.audiences],
        });
        if (!res.body?.id) throw retriable('FederatedCredentialUnreadable', 'the create answered without an id');
        logLine(log, 'info', `created federated credential ${input.name} on ${input.appObjectId}`);
        return { ok: true, id: res.body.id, created: true, patched: false };
      } catch (err) {
        // An overlapping run created it first (409 on the name): compare it like one found.
        if (httpStatusOf(err) !== 409) throw err;
        current = await ficByName(deps, input.appObjectId, input.name);
        if (!current) throw err;
      }
    }
    const same =
      current.issuer === input.issuer &&
      current.subject === input.subject &&
      current.audiences.length === input.audiences.length &&
      current.audiences.every((a, i) => a === input.audiences[i]);
    if (same) return { ok: true, id: current.id, created: false, patched: false };
    await graphCall(deps.graph, 'PATCH', `${ficPath(input.appObjectId)}/${encodeURIComponent(current.id)}`, {
      issuer: input.issuer,
      subject: input.subject,
      audiences: [...input.audiences],
    });
    logLine(log, 'warn', `federated credential ${input.name} had drifted; patched back`);
    return { ok: true, id: current.id, created: false, patched: true };
  } catch (err) {
    return { ok: false, failure: failureOrThrow(err) };
  }
}

export async function removeClientSecrets(
  input: RemoveClientSecretsInput,
  deps: Deps,
  log?: ActivityLog,
): Promise<Outcome<RemoveClientSecretsResult>> {
  try {
    const res = await graphCall<{ passwordCredentials?: Array<{ keyId: string }> }>(
      deps.graph,
      'GET',
      `${appPath(input.appObjectId)}?$select=id,passwordCredentials`,
    );
    const present = new Set((res.body?.passwordCredentials ?? []).map((c) => c.keyId.toLowerCase()));
    const removed: string[] = [];
    for (const keyId of input.keyIds) {
      if (!present.has(keyId.toLowerCase())) continue;
      try {
        await graphCall(deps.graph, 'POST', `${appPath(input.appObjectId)}/removePassword`, { keyId });
        removed.push(keyId);
      } catch (err) {
        // Gone meanwhile (an overlapping run): fine; anything else is reported.
        if (httpStatusOf(err) !== 400) throw err;
      }
    }
    logLine(log, 'info', `removed ${removed.length} client secret(s) from ${input.appObjectId}`);
    return { ok: true, removed };
  } catch (err) {
    return { ok: false, failure: failureOrThrow(err) };
  }
}
