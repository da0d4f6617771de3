/**
 * bench/floor.ts on a tiny run (one measured provisioning, no modelled latency, one rotation): the `--json` line has
 * the shape bench/results.schema.json documents. Never the timings. And the floor model derived from the profile.
 */
import fs from 'node:fs';
import path from 'node:path';

import { Validator, type Schema } from '@cfworker/json-schema';

import { floorModel, main, pathMs, stageFloor, type FloorResult } from '../../bench/floor';
import { DEFAULT_LATENCY_MS } from '../../sandbox/core/faults';
import { m365SupportAad } from '../../src/profiles/m365-support-aad';

const schema = JSON.parse(
  fs.readFileSync(path.join(__dirname, '..', '..', 'bench', 'results.schema.json'), 'utf8'),
) as Schema;

it('prints a table and, with --json, one JSON line that bench/results.schema.json accepts', async () => {
  const lines: string[] = [];
  expect(await main(['--json', '--runs', '1', '--latency', 'off'], (l) => lines.push(l))).toBe(0);
  const table = lines.slice(0, -1).join('\n');
  expect(table).toMatch(/P1 critical path[\s\S]*P2 calls per service[\s\S]*P5 orchestration history/);
  const json = JSON.parse(lines[lines.length - 1]) as FloorResult;
  expect(Object.keys(json)).toEqual(['p1', 'p2', 'p5']);
  const result = new Validator(schema, '2020-12', false).validate(json);
  expect(result.errors).toEqual([]);
  expect(result.valid).toBe(true);
  // Shape only: counts exist for every service, a rotation ran, a re-provisioning of an unchanged integration ran.
  expect(json.p5.rotationEvents).toEqual(expect.any(Number));
  expect(json.p1.byActivity.map((a) => a.activity)).toContain('ensureApp');
}, 120_000);

it('the schema rejects a line without the required figures', () => {
  const v = new Validator(schema, '2020-12', false);
  expect(v.validate({ p1: { floorMs: 1, wallMs: 2 } }).valid).toBe(false);
  expect(v.validate({ p2: { calls: {}, minimum: {}, ratio: {}, rerunWrites: 0 } }).valid).toBe(false);
  expect(v.validate({ p4: { bundleLoadMs: 1, distLoadMs: 1, bundleLoadRatio: 1, packageMB: 1 } }).valid).toBe(true);
});

it("derives the floor from the profile: apps and secrets in parallel count once, records in their references' order", () => {
  const model = floorModel(m365SupportAad, {
    tenantByDomain: true,
    approverGroups: true,
    approvalMails: 2,
    serviceNowAuth: 'entra',
  });
  const L = { ...DEFAULT_LATENCY_MS };
  const stage = (name: string) => model.toApproval.find((s) => s.name === name)!;
  // Three apps created in parallel cost one app's chain: app upsert → service principal.
  expect(stage('entra-apps').branches).toHaveLength(3);
  expect(stageFloor(stage('entra-apps'), L).ms).toBe(2 * L.graph);
  // The outbound profile references the outbound provider (its sys_id), the OIDC entity the OIDC provider.
  const chains = stage('servicenow').branches.map((b) => b.name);
  expect(chains).toEqual(
    expect.arrayContaining([
      'outboundProvider → outboundProfile',
      'outboundProvider (secret)',
      'oidcProvider → oidcEntity (secret)',
      'integrationUser',
    ]),
  );
  // A record waits for the insert of the record it references, not for that record's secret PATCH.
  const branch = (name: string) => stage('servicenow').branches.find((b) => b.name === name)!;
  expect(branch('outboundProvider → outboundProfile').hops).toHaveLength(4);
  expect(branch('outboundProvider (secret)').hops).toHaveLength(3);
  expect(branch('oidcProvider → oidcEntity (secret)').hops).toHaveLength(5);
  // The whole path is the sum of the stages' slowest branches.
  expect(pathMs(model.toApproval, L)).toBe(model.toApproval.reduce((sum, s) => sum + stageFloor(s, L).ms, 0));
  // The minimum calls follow the profile: 3 apps × (app + service principal) + 3 addPassword + ...
  expect(model.minimum.provision.graph).toBeGreaterThanOrEqual(3 * 2 + 3 + 2);
  expect(model.minimum.reprovision.servicenow).toBeLessThan(model.minimum.provision.servicenow);
});

it('models how the product reaches ServiceNow: token auth reads no admin credential and does not wait for the vault', () => {
  const ctx = { tenantByDomain: true, approverGroups: true, approvalMails: 2 };
  const token = floorModel(m365SupportAad, { ...ctx, serviceNowAuth: 'entra' });
  const basic = floorModel(m365SupportAad, { ...ctx, serviceNowAuth: 'basic' });
  const L = { ...DEFAULT_LATENCY_MS };
  const preflight = (m: typeof token) =>
    stageFloor(
      m.toApproval.find((s) => s.name === 'preflight')!,
      L,
    );
  // Token auth: the vault check runs beside the ServiceNow checks, so the slowest branch is ServiceNow alone.
  expect(preflight(token).ms).toBe(3 * L.servicenow);
  expect(preflight(token).branch?.hops).not.toContain('keyvault');
  // Basic auth: the credentials come from Key Vault before ServiceNow can be asked anything.
  expect(preflight(basic).ms).toBe(L.keyvault + 3 * L.servicenow);
  // One vault check either way; two credential secrets only where they are read.
  expect(basic.minimum.provision.keyvault - token.minimum.provision.keyvault).toBe(2);
  expect(token.minimumWhy.provision.keyvault[0]).toMatch(/^1 vault check/);
  expect(basic.minimum.reprovision.keyvault - token.minimum.reprovision.keyvault).toBe(2);
});
