import { createHash } from 'node:crypto';

/**
 * The application's alternate key, derived from the integration and role. Graph documents uniqueName only as a
 * client-provided, immutable alternate key (application-upsert; resources/application); its character rules are not
 * published, so we keep to lower-case letters, digits and `-` (what the documented examples use, e.g. `app-65278`)
 * and to at most 120 characters, replacing a longer tail by a hash so the name stays deterministic and unique.
 */
export function uniqueNameFor(integrationId: string, role: string): string {
  const raw = `${integrationId}-${role}`
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-|-$/g, '');
  if (raw.length <= 120) return raw;
  const hash = createHash('sha256').update(`${integrationId}\n${role}`).digest('hex').slice(0, 16);
  return `${raw.slice(0, 103)}-${hash}`;
}
