/** The generated ACL script reuses only ACLs it created (marked by their description, as Microsoft's row_level_acl_setup.js does). */
import vm from 'node:vm';
import { crawlAclScript } from '../../src/profiles/copilot-servicenow-federated';

it('never attaches the crawl role to a pre-existing read ACL of the instance', () => {
  // A minimal GlideRecord over an in-memory instance holding an OOB role-less kb_knowledge read ACL.
  const db: Record<string, Record<string, unknown>[]> = {
    sys_user: [{ sys_id: 'u1', user_name: 'SP' }],
    sys_user_role: [],
    sys_user_has_role: [],
    sys_security_acl: [{ sys_id: 'oob', name: 'kb_knowledge', type: 'record', operation: 'read', active: true }],
    sys_security_acl_role: [],
  };
  let n = 0;
  class GlideRecord {
    q: [string, unknown][] = [];
    rows: Record<string, unknown>[] = [];
    cur: Record<string, unknown> = {};
    constructor(private t: string) {}
    addQuery(k: string, v: unknown) {
      this.q.push([k, v]);
    }
    query() {
      this.rows = (db[this.t] ?? []).filter((r) => this.q.every(([k, v]) => String(r[k]) === String(v)));
    }
    next() {
      const r = this.rows.shift();
      if (r) this.cur = r;
      return !!r;
    }
    get(k: string, v: unknown) {
      this.addQuery(k, v);
      this.query();
      return this.next();
    }
    getUniqueValue() {
      return this.cur.sys_id as string;
    }
    initialize() {
      this.cur = {};
    }
    setValue(k: string, v: unknown) {
      this.cur[k] = v;
    }
    insert() {
      const id = `new${++n}`;
      (db[this.t] ??= []).push({ ...this.cur, sys_id: id });
      return id;
    }
  }
  vm.runInNewContext(crawlAclScript().replace('{apps.copilot.servicePrincipalId}', 'SP'), {
    GlideRecord,
    gs: { info: () => undefined },
  });
  // The OOB ACL had no roles (open to every user); adding one restricts it to the connector and admins.
  expect(db.sys_security_acl_role.filter((r) => r.sys_security_acl === 'oob')).toEqual([]);
});
