/**
 * One tenant, one id: a request may name the tenant by its id or by a verified domain, and both must lead to the same
 * integration. The domain is resolved to the tenant id through the tenant's OpenID Connect discovery document, whose
 * `issuer` carries the id (https://learn.microsoft.com/entra/identity-platform/v2-protocols-oidc#find-your-apps-openid-configuration-document-uri).
 * Only the home tenant (AZURE_TENANT_ID) and the tenants listed in ALLOWED_TENANTS are served.
 */
import { entraEndpoints, type AppConfig } from '../config';
import { fetchOpenIdMetadata } from '../clients/entra';
import { ensureErrorType, ExternalServiceError } from '../lib/errors';

const GUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;

export type TenantResolution =
  | { ok: true; tenantId: string; domain?: string }
  /** 400: the tenant does not exist or is not served here; 503: Entra could not be asked (try again). */
  | { ok: false; status: 400 | 503; message: string };

export async function canonicalTenant(
  config: Pick<AppConfig, 'entra' | 'allowedTenants'>,
  tenant: string,
  timeoutMs = 10_000,
): Promise<TenantResolution> {
  const given = tenant.trim().toLowerCase();
  let tenantId: string;
  let domain: string | undefined;
  if (new RegExp(`^${GUID.source}$`, 'i').test(given)) tenantId = given;
  else {
    domain = given;
    try {
      const metadata = await fetchOpenIdMetadata(
        entraEndpoints(config.entra.authorityHost, given).metadataV1,
        timeoutMs,
      );
      const id = GUID.exec(metadata.issuer)?.[0]?.toLowerCase();
      if (!id) return { ok: false, status: 503, message: `the OpenID metadata of '${given}' names no tenant id` };
      tenantId = id;
    } catch (err) {
      const e = ensureErrorType(err);
      if (
        e instanceof ExternalServiceError &&
        e.status !== undefined &&
        e.status >= 400 &&
        e.status < 500 &&
        e.status !== 429
      )
        return {
          ok: false,
          status: 400,
          message: `tenant '${given}' is not a known Entra tenant (${e.code ?? e.status})`,
        };
      return { ok: false, status: 503, message: `tenant '${given}' could not be resolved now: try again later` };
    }
  }
  if (!config.allowedTenants.includes(tenantId))
    return {
      ok: false,
      status: 400,
      message: `tenant ${tenantId} is not served by this deployment (the home tenant and ALLOWED_TENANTS are)`,
    };
  return { ok: true, tenantId, ...(domain ? { domain } : {}) };
}
