import type { SandboxRequest, SandboxResponse } from '../core/types';
import { badParameter, invalidName } from './errors';
import type { NewVersion, VersionUpdate } from './store';

/**
 * api-versions the secrets data plane serves: 7.0–7.6 and the dated ones @azure/keyvault-secrets 4.11.2
 * (`2025-07-01`) and 4.12.0 (`2026-04-01`) send (docs/reference/microsoft.md#key-vault-wire-format;
 * azure-rest-api-specs `Secrets/`).
 */
export const API_VERSIONS = ['7.0', '7.1', '7.2', '7.3', '7.4', '7.5', '7.6', '2025-07-01', '2026-04-01'];
const LATEST = API_VERSIONS[API_VERSIONS.length - 1];

export type Parsed<T> = { ok: true; value: T } | { ok: false; response: SandboxResponse };
const fail = <T>(response: SandboxResponse): Parsed<T> => ({ ok: false, response });

/** Missing → 400 [message inferred]; unknown → the vault's "not recognized" BadParameter (Azure Key Vault emulators). */
export function apiVersion(req: SandboxRequest): Parsed<string> {
  const v = req.query.get('api-version');
  if (v === null || v === '') return fail(badParameter('The api-version query parameter must be specified.'));
  if (!API_VERSIONS.includes(v))
    return fail(
      badParameter(
        `The specified version (${v}) is not recognized. Consider using the latest supported version (${LATEST}).`,
      ),
    );
  return { ok: true, value: v };
}

/**
 * Object names: 1–127 characters of `0-9a-zA-Z-` (swagger `secret-name` pattern) starting with a letter
 * (about-object-identifiers). Refused with `The request URI contains an invalid name: …`.
 */
export function secretName(name: string): Parsed<string> {
  if (!/^[a-zA-Z][0-9a-zA-Z-]{0,126}$/.test(name)) return fail(invalidName(name));
  return { ok: true, value: name };
}

export interface Page {
  skip: number;
  top: number;
}

/** `maxresults` 1..25, default 25 (swagger); `$skiptoken` is ours (base64 JSON like the vault's `NextMarker`). */
export function page(req: SandboxRequest): Parsed<Page> {
  const raw = req.query.get('maxresults');
  let top = 25;
  if (raw !== null) {
    top = Number(raw);
    if (!Number.isInteger(top) || top < 1 || top > 25)
      return fail(badParameter('Invalid value for maxresults. The value must be an integer between 1 and 25.')); // [inferred]
  }
  const token = req.query.get('$skiptoken');
  let skip = 0;
  if (token !== null) {
    const decoded = decodeSkipToken(token);
    if (decoded === undefined) return fail(badParameter('The $skiptoken is invalid.')); // [inferred]
    skip = decoded;
  }
  return { ok: true, value: { skip, top } };
}

export const encodeSkipToken = (offset: number): string =>
  Buffer.from(JSON.stringify({ NextMarker: offset, TargetLocation: 0 })).toString('base64url');

function decodeSkipToken(token: string): number | undefined {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { NextMarker?: unknown };
    const n = parsed.NextMarker;
    return typeof n === 'number' && Number.isInteger(n) && n >= 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

type Json = Record<string, unknown>;

function jsonObject(req: SandboxRequest): Parsed<Json> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(req.body.toString('utf8'));
  } catch {
    return fail(badParameter('The request body is not valid JSON.')); // [inferred]
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    return fail(badParameter('The request body must be a JSON object.')); // [inferred]
  return { ok: true, value: parsed as Json };
}

const isUnixTime = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

/** Shared by set and update: `contentType`, `tags` (string map) and `attributes` {enabled, nbf, exp}. */
function properties(body: Json): Parsed<VersionUpdate> {
  const out: VersionUpdate = {};
  if (body.contentType !== undefined && body.contentType !== null) {
    if (typeof body.contentType !== 'string') return fail(badParameter('contentType must be a string.')); // [inferred]
    out.contentType = body.contentType;
  }
  if (body.tags !== undefined && body.tags !== null) {
    const tags = body.tags;
    if (typeof tags !== 'object' || Array.isArray(tags) || Object.values(tags).some((t) => typeof t !== 'string'))
      return fail(badParameter('Tags must be a map of string keys to string values.')); // [inferred]
    out.tags = tags as Record<string, string>;
  }
  const attrs = body.attributes;
  if (attrs !== undefined && attrs !== null) {
    if (typeof attrs !== 'object' || Array.isArray(attrs)) return fail(badParameter('attributes must be an object.'));
    const a = attrs as Json;
    if (a.enabled !== undefined && a.enabled !== null) {
      if (typeof a.enabled !== 'boolean') return fail(badParameter('attributes.enabled must be a boolean.'));
      out.enabled = a.enabled;
    }
    for (const key of ['nbf', 'exp'] as const) {
      if (a[key] === undefined || a[key] === null) continue;
      if (!isUnixTime(a[key])) return fail(badParameter(`attributes.${key} must be a Unix time in seconds.`));
      out[key] = a[key];
    }
  }
  return { ok: true, value: out };
}

/**
 * `SecretSetParameters`: `value` required (an empty string is a valid value, as in Azure; see
 * james-gould/azure-keyvault-emulator#386). Messages [inferred].
 */
export function setBody(req: SandboxRequest): Parsed<NewVersion> {
  const body = jsonObject(req);
  if (!body.ok) return body;
  const value = body.value.value;
  if (value === undefined || value === null) return fail(badParameter('The value of the secret must be specified.'));
  if (typeof value !== 'string') return fail(badParameter('The value of the secret must be a string.'));
  const props = properties(body.value);
  if (!props.ok) return props;
  return { ok: true, value: { ...props.value, value } };
}

/** `SecretUpdateParameters`: contentType, attributes, tags; anything else is ignored. */
export function updateBody(req: SandboxRequest): Parsed<VersionUpdate> {
  const body = jsonObject(req);
  if (!body.ok) return body;
  return properties(body.value);
}
