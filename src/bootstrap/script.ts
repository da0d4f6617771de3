/**
 * Renders the bootstrap plan (plan.ts) as a ServiceNow background script (System Definition > Scripts - Background,
 * global scope, run by an instance administrator once). The script holds the plan as data and one generic loop over
 * it, in ES5 (background scripts run on the platform's JavaScript engine: `var`, no arrow functions):
 *
 * - each step: a GlideRecord query on the natural key (`addQuery` per field, references resolved to sys_ids first);
 *   found → printed, never changed (fields that differ from what the trust needs are printed as warnings);
 *   missing → `initialize()`, `setValue` for key and values, `insert()`, printed as created;
 * - a lookup-only record or a role that does not exist stops the script with an error (nothing after it runs).
 *
 * Running it twice creates nothing the second time. sandbox/servicenow/bootstrap.ts applies the same data to the
 * stand-in the same way (the tests run both). The GlideRecord API: ServiceNow developer reference "GlideRecord -
 * Global" (addQuery, query, next, initialize, setValue, insert, getUniqueValue, getValue); output with gs.info.
 */
import type { BootstrapPlan } from './plan';

const line = (text: string) => `// ${text}`;

/** Wraps a comment to lines of at most ~110 characters. */
function comment(text: string, indent = ''): string[] {
  const words = text.split(/\s+/);
  const out: string[] = [];
  let current = '';
  for (const w of words) {
    if (current && `${current} ${w}`.length > 106 - indent.length) {
      out.push(line(`${indent}${current}`));
      current = w;
    } else current = current ? `${current} ${w}` : w;
  }
  if (current) out.push(line(`${indent}${current}`));
  return out;
}

export function renderBootstrapScript(plan: BootstrapPlan, instance: string): string {
  const { facts } = plan;
  const header = [
    line(`m365-snow-provisioner: connect ServiceNow instance '${instance}' to the control plane (run once as admin).`),
    line('System Definition > Scripts - Background, scope global. Idempotent: a second run creates nothing.'),
    line(''),
    ...comment(
      'It lets the provisioning app call the REST APIs with Entra access tokens of its managed identity, ' +
        'instead of a ServiceNow password (ServiceNow KB0720547, "External ID Token Authentication (OIDC) for REST APIs"):',
    ),
    line(`  tenant                ${facts.tenantId}`),
    line(`  OIDC metadata URL     ${facts.metadataUrl}`),
    line(`  token audience (aud)  ${facts.clientId}  (OIDC entity client id)`),
    line(`  machine user          ${facts.userName}  (user_name = the identity's object id, claim oid)`),
    line(''),
    line('Roles of the machine user: exactly what the registered integration profiles write, each justified:'),
    ...plan.roles.flatMap((r) => [
      line(`  ${r.role}: tables ${r.tables.join(', ')} (${r.profiles.join(', ')})`),
      ...comment(r.why, '    '),
    ]),
    line(''),
    line('Revoke: deactivate the OIDC entity or the machine user (active = false); re-running this script reports it.'),
  ];
  const body = `(function () {
  var PLAN = ${JSON.stringify(plan.steps, null, 2).replace(/\n/g, '\n  ')};
  var ids = {};
  var created = 0;
  var found = 0;

  function resolve(v) {
    if (typeof v === 'string') return v;
    if (v.ref) return ids[v.ref];
    var role = new GlideRecord('sys_user_role');
    role.addQuery('name', v.role);
    role.query();
    return role.next() ? role.getUniqueValue() : undefined;
  }

  for (var i = 0; i < PLAN.length; i++) {
    var step = PLAN[i];
    var key = {};
    for (var k in step.key) {
      var kv = resolve(step.key[k]);
      if (kv === undefined) {
        gs.error('STOPPED at ' + step.what + ': ' + (step.key[k].role ? 'no role ' + step.key[k].role : 'no ' + k));
        return;
      }
      key[k] = kv;
    }
    var gr = new GlideRecord(step.table);
    for (var q in key) gr.addQuery(q, key[q]);
    gr.query();
    if (gr.next()) {
      ids[step.id] = gr.getUniqueValue();
      found++;
      gs.info('found    ' + step.table + ' ' + gr.getUniqueValue() + ': ' + step.what);
      for (var e in step.expect || {}) {
        var actual = String(gr.getElement(e));
        if (actual !== step.expect[e])
          gs.warn('WARNING  ' + step.what + ': ' + e + ' is ' + actual + ', the trust needs ' + step.expect[e]);
      }
      continue;
    }
    if (step.lookupOnly) {
      gs.error('STOPPED at ' + step.what + ': not found on this instance');
      return;
    }
    gr.initialize();
    for (var f in key) gr.setValue(f, key[f]);
    for (var v in step.values) gr.setValue(v, resolve(step.values[v]));
    var id = gr.insert();
    if (!id) {
      gs.error('STOPPED at ' + step.what + ': insert into ' + step.table + ' refused');
      return;
    }
    ids[step.id] = id;
    created++;
    gs.info('created  ' + step.table + ' ' + id + ': ' + step.what);
  }
  gs.info('done: ' + created + ' created, ' + found + ' found. Check: GET /api/servicenow/instances/${instance}/trust');
})();
`;
  return `${header.join('\n')}\n${body}`;
}
