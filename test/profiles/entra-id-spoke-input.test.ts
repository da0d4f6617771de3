/** Bad values of options.permissionTier are refused at the edge with a problem, never a throw. */
import { parseIntegrationRequest } from '../../src/api/integration-request';

const base = { tenant: 'contoso.onmicrosoft.com', tenantName: 'Contoso', serviceNowInstance: 'dev00001' };
it.each([
  ['number', { profile: 'entra-id-spoke', options: { permissionTier: 1 } }],
  ['null', { profile: 'entra-id-spoke', options: { permissionTier: null } }],
  ['object', { profile: 'entra-id-spoke', options: { permissionTier: { a: 1 } } }],
  ['array', { profile: 'entra-id-spoke', options: { permissionTier: ['read'] } }],
  ['long', { profile: 'entra-id-spoke', options: { permissionTier: 'x'.repeat(100000) } }],
  ['proto', { profile: 'entra-id-spoke', options: { permissionTier: '__proto__' } }],
  ['toString', { profile: 'entra-id-spoke', options: { permissionTier: 'toString' } }],
  ['empty', { profile: 'entra-id-spoke', options: { permissionTier: '' } }],
  ['unknown profile', { profile: 'nope', options: { permissionTier: 'read' } }],
  ['proto profile', { profile: '__proto__', options: { permissionTier: 'read' } }],
  ['no tiers', { options: { permissionTier: 'read' } }],
])('%s is a 400 problem, not a throw', (_n, extra) => {
  const r = parseIntegrationRequest({ ...base, ...extra });
  expect(r.ok).toBe(false);
});
