import { request } from 'node:https';

import type { SandboxClock } from '../core/clock';
import { decodeJwt, verifyJwt, type Jwk } from '../core/jwt';
import type { InstanceStore, Row } from './store';

/**
 * Inbound bearer-token validation for an OIDC entity, as ServiceNow does it
 * (docs/reference/servicenow.md#inbound-token-validation; KB0720547, SN-OIDC, SN-3PID): active `oauth_oidc_entity` rows
 * whose `client_id` equals `aud`; each one's `oidc_provider_configuration` gives the metadata URL, whose `jwks_uri`
 * verifies the signature; expiry with a 300 s clock skew (SN-OIDC default); issuer = the metadata's `issuer`;
 * `user_claim` is looked up in the `user_field` column of sys_user; the user must be active. Metadata and keys are
 * cached (the provider configuration's cache life span; [inferred] unit).
 */
export const CLOCK_SKEW_SECONDS = 300;

interface ProviderKeys {
  issuer: string;
  keys: Jwk[];
  fetchedAt: number;
}

export type OidcResult = { ok: true; user: Row } | { ok: false; reason: string };

export class OidcValidator {
  private readonly cache = new Map<string, ProviderKeys>();

  constructor(
    private readonly clock: SandboxClock,
    private readonly cacheTtlMs: number,
  ) {}

  clearCache(): void {
    this.cache.clear();
  }

  async validate(store: InstanceStore, token: string): Promise<OidcResult> {
    const jwt = decodeJwt(token);
    if (!jwt) return { ok: false, reason: 'not a JWT' };
    const aud = jwt.claims.aud;
    const audiences = Array.isArray(aud) ? aud.map(String) : [String(aud)];
    const entities = store
      .rowsOf('oauth_oidc_entity')
      .filter((r) => r.values.active === 'true' && audiences.includes(r.values.client_id));
    if (!entities.length)
      return { ok: false, reason: `Cannot find oauth_oidc_entity with client_ids ${audiences.join(',')}` };
    let reason = 'no provider configuration';
    for (const entity of entities) {
      const config = store.get(entity.values.oidc_provider_configuration);
      if (!config || config.table !== 'oidc_provider_configuration') continue;
      let provider: ProviderKeys;
      try {
        provider = await this.provider(config.values.oidc_url);
      } catch (err) {
        reason = `metadata: ${(err as Error).message}`;
        continue;
      }
      const verified = await verifyJwt(token, {
        keys: provider.keys,
        now: this.clock.seconds(),
        issuers: [provider.issuer],
        audiences: [entity.values.client_id],
        skew: CLOCK_SKEW_SECONDS,
      });
      if (!verified.ok) {
        reason = verified.reason;
        continue;
      }
      const claim = verified.claims[config.values.user_claim || 'sub'];
      if (typeof claim !== 'string' || claim === '') {
        reason = `claim ${config.values.user_claim} missing`;
        continue;
      }
      const user = store.rowsOf('sys_user').find((u) => u.values[config.values.user_field || 'user_name'] === claim);
      if (!user) {
        reason = 'no matching user';
        continue;
      }
      if (user.values.active !== 'true' || user.values.locked_out === 'true') {
        reason = 'user inactive';
        continue;
      }
      return { ok: true, user };
    }
    return { ok: false, reason };
  }

  private async provider(metadataUrl: string): Promise<ProviderKeys> {
    const cached = this.cache.get(metadataUrl);
    if (cached && this.clock.now() - cached.fetchedAt < this.cacheTtlMs) return cached;
    const metadata = await getJson(metadataUrl);
    const issuer = (metadata as { issuer?: unknown }).issuer;
    const jwksUri = (metadata as { jwks_uri?: unknown }).jwks_uri;
    if (typeof issuer !== 'string' || typeof jwksUri !== 'string') throw new Error('metadata lacks issuer or jwks_uri');
    const jwks = (await getJson(jwksUri)) as { keys?: unknown };
    if (!Array.isArray(jwks.keys)) throw new Error('JWKS lacks keys');
    const entry = { issuer, keys: jwks.keys as Jwk[], fetchedAt: this.clock.now() };
    this.cache.set(metadataUrl, entry);
    return entry;
  }
}

/** GET a JSON document over HTTPS (the sandbox CA is trusted through NODE_EXTRA_CA_CERTS). */
export function getJson(url: string, timeoutMs = 5000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      reject(new Error('invalid URL'));
      return;
    }
    if (target.protocol !== 'https:') {
      reject(new Error('metadata URL must be https'));
      return;
    }
    const req = request(
      target,
      { method: 'GET', headers: { Accept: 'application/json' }, timeout: timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          if (res.statusCode !== 200) {
            reject(new Error(`HTTP ${res.statusCode ?? 0}`));
            return;
          }
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
          } catch {
            reject(new Error('not JSON'));
          }
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}
