/**
 * X.509 certificates and JWS signatures as the stand-ins need them: the thumbprints a JWT header names a certificate by
 * (`x5t` = base64url SHA-1 of the DER certificate, `x5t#S256` = base64url SHA-256: RFC 7515 sections 4.1.7 and 4.1.8),
 * the upper-case hex SHA-1 thumbprint Graph shows as a key credential's `customKeyIdentifier`, and RS256 / PS256
 * signature checks (RFC 7518 section 3.3 and 3.5: PS256 = RSASSA-PSS with SHA-256, MGF1 SHA-256, 32-byte salt) with
 * node:crypto.
 */
import { X509Certificate, constants, createHash, verify, type KeyObject } from 'node:crypto';

export interface ParsedCertificate {
  der: Buffer;
  subject: string;
  /** Epoch milliseconds. */
  notBefore: number;
  notAfter: number;
  thumbprintHex: string;
  x5t: string;
  x5tS256: string;
  publicKey: KeyObject;
  /** RSA modulus length in bits; undefined for other key types. */
  rsaBits: number | undefined;
}

/** The certificate of a DER buffer, or undefined when it is not one. */
export function parseCertificate(der: Buffer): ParsedCertificate | undefined {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(der);
  } catch {
    return undefined;
  }
  const raw = x509.raw;
  const sha1 = createHash('sha1').update(raw).digest();
  const details = x509.publicKey.asymmetricKeyDetails;
  return {
    der: raw,
    // Node prints one RDN per line; Graph shows the subject as `CN=…` (the common single-RDN case kept as is).
    subject: x509.subject.split('\n').join(', '),
    notBefore: Date.parse(x509.validFrom),
    notAfter: Date.parse(x509.validTo),
    thumbprintHex: sha1.toString('hex').toUpperCase(),
    x5t: sha1.toString('base64url'),
    x5tS256: createHash('sha256').update(raw).digest('base64url'),
    publicKey: x509.publicKey,
    rsaBits: x509.publicKey.asymmetricKeyType === 'rsa' ? details?.modulusLength : undefined,
  };
}

/** A strict base64 string (Graph's Edm.Binary) decoded, or undefined. */
export function decodeBase64(value: string): Buffer | undefined {
  const compact = value.replace(/\s+/g, '');
  if (!compact || !/^[A-Za-z0-9+/]+={0,2}$/.test(compact) || compact.length % 4 !== 0) return undefined;
  return Buffer.from(compact, 'base64');
}

export interface DecodedJws {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
  signingInput: Buffer;
  signature: Buffer;
}

const jsonPart = (part: string): Record<string, unknown> | undefined => {
  try {
    const v: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
};

/** The parts of a compact JWS with JSON header and claims, unverified; undefined when malformed. */
export function decodeJws(token: string): DecodedJws | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]*$/.test(p))) return undefined;
  const header = jsonPart(parts[0]);
  const claims = jsonPart(parts[1]);
  if (!header || !claims) return undefined;
  return {
    header,
    claims,
    signingInput: Buffer.from(`${parts[0]}.${parts[1]}`, 'ascii'),
    signature: Buffer.from(parts[2], 'base64url'),
  };
}

/** Whether the JWS signature verifies with the key under RS256 or PS256; any other alg is false. */
export function verifyJwsSignature(jws: DecodedJws, key: KeyObject): boolean {
  const alg = jws.header.alg;
  try {
    if (alg === 'RS256') return verify('sha256', jws.signingInput, key, jws.signature);
    if (alg === 'PS256')
      return verify(
        'sha256',
        jws.signingInput,
        { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
        jws.signature,
      );
  } catch {
    return false;
  }
  return false;
}
