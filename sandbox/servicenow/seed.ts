import { createHash } from 'node:crypto';

import { allProfiles } from '../../src/profiles';
import { serviceNowNeeds } from '../../src/profiles/needs';
import { choicesIn, columnsOf, TABLES } from './schema';
import { releaseHas } from './release';
import type { InstanceStore } from './store';

export interface SeedOptions {
  adminUser: string;
  adminPassword: string;
}

/**
 * Roles of a fresh instance (docs/reference/servicenow.md#authentication-and-roles), plus, for every registered
 * integration profile, the roles it needs (src/profiles/needs.ts): its scoped app is installed, as the profile's
 * preflight expects. A profile therefore brings its own sandbox instance state; nothing here names one.
 */
export const BASE_ROLES = [
  'admin',
  'itil',
  'incident_manager',
  'security_admin',
  'snc_internal',
  // Administration roles every instance has; the control plane's machine user holds some of them (src/bootstrap/roles.ts).
  'oauth_admin',
  'user_admin',
  'credential_admin',
  'connection_admin',
];

/** The scoped apps the registered profiles require. */
function installedApps(): { scope: string; name: string }[] {
  const apps = new Map<string, { scope: string; name: string }>();
  for (const profile of allProfiles()) {
    const scope = profile.serviceNow.requiredScope;
    if (scope && !apps.has(scope)) apps.set(scope, { scope, name: profile.title });
  }
  return [...apps.values()];
}

/** Every role the seeded instance has: the base roles and each registered profile's. */
export function seededRoles(): string[] {
  return [...new Set([...BASE_ROLES, ...allProfiles().flatMap((p) => serviceNowNeeds(p).requiredRoles)])];
}

/** The well-known sys_id of the admin user on every instance. */
export const ADMIN_SYS_ID = '6816f79cc0a8016401c5a33be04be441';
export const APP_SCOPE_SYS_ID = '6d05c93f1b7784507ddd4227cc4bcb9f';
/** sys_ids of installed scoped apps: the Microsoft 365 support app's store listing id, else one derived from the scope. */
export const scopeSysId = (scope: string): string =>
  scope === 'x_mioms_m365_assis'
    ? APP_SCOPE_SYS_ID
    : createHash('sha1').update(`sys_scope:${scope}`).digest('hex').slice(0, 32);
const DEMO_USER_SYS_ID = '62826bf03710200044e0bfc8bcbe5df1';

const SYSTEM = { inputDisplayValue: true, user: 'system' };

/** Seeds a store like a fresh instance (docs/reference/servicenow.md; the state before step B of docs/reference/m365-support-integration.md). */
export function seedInstance(store: InstanceStore, opts: SeedOptions): void {
  const add = (table: string, body: Record<string, unknown>, user = 'system') =>
    store.insert(table, body, { ...SYSTEM, user });

  // sys_scope: global has the literal sys_id "global"; the app scope per MS-OVERVIEW's store listing id.
  add('sys_scope', { sys_id: 'global', scope: 'global', name: 'Global', version: '', active: 'true' });
  const apps = installedApps();
  for (const app of apps)
    add('sys_scope', {
      sys_id: scopeSysId(app.scope),
      scope: app.scope,
      name: app.name,
      version: '1.0.0',
      active: 'true',
    });
  // "global" is not 32 hex, so the insert gave it a generated id: fix it up to the platform's literal value.
  const global = store.find('sys_scope', 'scope', 'global');
  if (global) store.rekey(global.values.sys_id, 'global');

  const roles = new Map<string, string>();
  for (const name of seededRoles())
    roles.set(
      name,
      add('sys_user_role', {
        name,
        suffix: name.split('.').pop(),
        elevated_privilege: name === 'security_admin',
        // A role named <scope>.<suffix> belongs to that scoped app.
        sys_scope: apps.some((a) => name.startsWith(`${a.scope}.`))
          ? scopeSysId(name.slice(0, name.lastIndexOf('.')))
          : 'global',
      }).values.sys_id,
    );

  const admin = add('sys_user', {
    sys_id: ADMIN_SYS_ID,
    user_name: opts.adminUser,
    first_name: 'System',
    last_name: 'Administrator',
    email: 'admin@example.com',
    user_password: opts.adminPassword,
  });
  add('sys_user_has_role', { user: admin.values.sys_id, role: roles.get('admin') });
  const abel = add('sys_user', {
    sys_id: DEMO_USER_SYS_ID,
    user_name: 'abel.tuter',
    first_name: 'Abel',
    last_name: 'Tuter',
    email: 'abel.tuter@example.com',
  });
  add('sys_user_has_role', { user: abel.values.sys_id, role: roles.get('itil') });

  // Tickets from the Table API samples (SN-TABLE, docs/reference/servicenow.md#sources).
  const ticket = (table: string, body: Record<string, unknown>) =>
    add(table, { caller_id: abel.values.sys_id, ...body }, 'admin');
  ticket('incident', {
    sys_id: 'a9e30c7dc61122760116894de7bcc7bd',
    number: 'INC0000046',
    short_description: "Can't access SFA software",
    category: 'software',
    state: '1',
    incident_state: '1',
    impact: '1',
    urgency: '3',
    priority: '3',
    opened_by: abel.values.sys_id,
  });
  ticket('incident', {
    sys_id: 'ef43c6d40a0a0b5700c77f9bf387afe3',
    number: 'INC0000050',
    short_description: "Can't access Exchange server - is it down?",
    category: 'hardware',
    state: '2',
    incident_state: '2',
    impact: '1',
    urgency: '1',
    priority: '1',
    assigned_to: admin.values.sys_id,
  });
  ticket('incident', {
    number: 'INC0000060',
    short_description: 'Unable to connect to email',
    category: 'inquiry',
    state: '7',
    incident_state: '7',
    active: 'false',
    close_code: 'Solved (Permanently)',
    close_notes: 'Password reset',
  });
  // A requested item belongs to a request (sc_request); both name who they are for.
  const request = add('sc_request', {
    number: 'REQ0010001',
    short_description: 'Microsoft 365 support integration setup',
    requested_for: admin.values.sys_id,
    opened_by: admin.values.sys_id,
  });
  add('sc_req_item', {
    number: 'RITM0010001',
    short_description: 'Microsoft 365 support integration setup',
    request: request.values.sys_id,
    requested_for: admin.values.sys_id,
  });
  add('change_request', {
    number: 'CHG0030001',
    short_description: 'Connect ServiceNow to Microsoft 365 support',
    type: 'normal',
  });

  // A published knowledge article (what the Copilot connector crawls).
  const kb = add('kb_knowledge_base', { title: 'IT' });
  add('kb_knowledge', {
    short_description: 'How to reset your password',
    kb_knowledge_base: kb.values.sys_id,
    workflow_state: 'published',
  });

  // Schema tables: one sys_db_object per table, one sys_dictionary row per column (inherited columns stay listed
  // under the parent, docs/reference/servicenow.md#schema-discovery), plus the collection row (element empty) real
  // instances have.
  // Only what the instance's release has (sandbox/servicenow/release.ts).
  const release = store.release;
  const objectIds = new Map<string, string>();
  for (const t of TABLES) {
    if (!releaseHas(release, t.since)) continue;
    const row = add('sys_db_object', {
      name: t.name,
      label: t.label,
      super_class: t.parent ? objectIds.get(t.parent) : '',
      is_extendable: TABLES.some((c) => c.parent === t.name),
    });
    objectIds.set(t.name, row.values.sys_id);
    add('sys_dictionary', { name: t.name, element: '', column_label: t.label, internal_type: 'collection' });
    const own = (t.parent ? t.columns : [...columnsOf(t.name, release).values()]).filter((c) =>
      releaseHas(release, c.since),
    );
    for (const c of own)
      add('sys_dictionary', {
        name: t.name,
        element: c.name,
        column_label: c.label,
        internal_type: c.type,
        reference: c.reference ?? '',
        mandatory: c.mandatory ?? false,
        max_length: c.type === 'string' ? '40' : '',
      });
  }
  choicesIn(release).forEach(([name, element, value, label], i) =>
    add('sys_choice', { name, element, value, label, sequence: String(i) }),
  );

  // REST API auth scope `useraccount` (SN-AUTHSCOPE) and the properties the product and OAuth server read.
  add('sys_auth_scope', { name: 'useraccount', auth_scope: 'useraccount', short_description: 'Access to all APIs' });
  add('sys_properties', {
    name: 'glide.oauth.inbound.client.credential.grant_type.enabled',
    value: 'true',
    type: 'boolean',
    description: 'Enable the client_credentials grant for inbound OAuth (SN-CC)',
  });
  add('sys_properties', { name: 'glide.invalid_query.returns_no_rows', value: 'false', type: 'boolean' });
  // The family release's name [inferred format]: what a client may show; decisions come from the schema rows.
  add('sys_properties', {
    name: 'glide.buildname',
    value: release.charAt(0).toUpperCase() + release.slice(1),
    type: 'string',
  });

  // Records a registered profile finds but never writes (e.g. a spoke's connection alias): installed with the
  // profile's scoped app, as the profile describes them. Only records whose values are fixed (no placeholders).
  const installed = new Set<string>();
  for (const profile of allProfiles())
    for (const r of profile.serviceNow.records) {
      if (!r.lookup) continue;
      const values = { ...r.fields, ...r.naturalKey };
      const key = `${r.table}:${JSON.stringify(r.naturalKey)}`;
      if (installed.has(key) || Object.values(values).some((v) => v.includes('{'))) continue;
      // A record every instance has (e.g. the useraccount auth scope above) is not seeded twice.
      const present = store
        .rowsOf(r.table)
        .some((row) => Object.entries(r.naturalKey).every(([k, v]) => row.values[k] === v));
      if (present) continue;
      installed.add(key);
      const scope = profile.serviceNow.requiredScope;
      add(r.table, { ...values, ...(scope ? { sys_scope: scopeSysId(scope) } : {}) });
    }
}
