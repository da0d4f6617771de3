/**
 * Shared pieces of the Entra activities (ensureApp, ensureAppSecret, compensate, rotation): the tags that mark our
 * objects and the credential display name. Graph calls go through src/clients/graph.ts (graphCall), failures through
 * ./failures.ts.
 */

// ---------------------------------------------------------------------------------------------------------------
// Marking our objects

/** Tag on every application this product manages. */
export const PRODUCT_TAG = 'm365-snow-provisioner';
export const integrationTag = (integrationId: string) => `integration:${integrationId}`;
export const roleTag = (role: string) => `role:${role}`;
/**
 * Written only by the create branch of the upsert: tells a retry (which sees a 204, not the 201) and compensation that
 * this provisioning run created the application, as opposed to finding it.
 */
export const createdByTag = (instanceId: string) => `created-by-operation:${instanceId}`;

/** Display name of the Graph password credential an operation adds (visible in the portal's "Certificates & secrets"). */
export const credentialDisplayName = (operation: string) => `${PRODUCT_TAG}:${operation}`;
