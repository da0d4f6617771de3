/**
 * Every request body the documentation shows for `POST /api/integrations` is accepted by the real request
 * validation (parseIntegrationRequest, whatever the schema is when the test runs): a copied example must never be
 * refused. The extractor finds fenced ```json blocks in a passage that names `POST` and `/api/integrations`, and the
 * `-d '…'` bodies of curl commands posting to it. Data pills such as `${number}` (ServiceNow Flow Designer) are
 * replaced with a representative value for their field. Only the smoke test's deliberately empty `{}` is expected to
 * be refused, and the test checks that it is.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { parseIntegrationRequest } from '../../src/api/integration-request';

const ROOT = join(__dirname, '..', '..');
const DOCS = ['docs/deploy.md', 'README.md'];

/** `/api/integrations` itself, not `/api/integrations/{id}` or `/api/integrations/{id}/rotate`. */
const ENDPOINT = /\/api\/integrations(?![\w/{])/;

/** Representative values for data pills, by the field they fill. */
const SAMPLES: Record<string, string> = {
  tenant: 'contoso.onmicrosoft.com',
  tenantName: 'Contoso',
  serviceNowInstance: 'dev00000',
  'ticket.number': 'CHG0030001',
  'ticket.sysId': '0123456789abcdef0123456789abcdef',
  'ticket.table': 'change_request',
  requestedBy: 'requester@contoso.com',
  approvers: 'approver@contoso.com',
};

interface Example {
  where: string;
  text: string;
}

function extract(file: string): Example[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const lines = text.split('\n');
  const out: Example[] = [];
  // Fenced json blocks: the passage since the previous heading or fence must name POST and the endpoint.
  let passage: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = /^\s*```(\S*)/.exec(lines[i]);
    if (/^#{1,6}\s/.test(lines[i])) passage = [];
    if (!fence) {
      passage.push(lines[i]);
      continue;
    }
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^\s*```/.test(lines[i]); i++) body.push(lines[i]);
    const context = passage.join('\n');
    if (fence[1] === 'json' && ENDPOINT.test(context) && /\bPOST\b/.test(context))
      out.push({ where: `${file}:${start + 1}`, text: body.join('\n') });
    // curl commands inside any block: continuation lines joined.
    const joined = body.join('\n').replace(/\\\n\s*/g, ' ');
    for (const cmd of joined.split('\n')) {
      if (!/\bcurl\b/.test(cmd) || !/-X\s*POST\b/.test(cmd) || !ENDPOINT.test(cmd)) continue;
      const data = /(?:-d|--data(?:-raw)?)\s+'([^']*)'/.exec(cmd);
      if (data) out.push({ where: `${file}:${start + 1} (curl)`, text: data[1] });
    }
    passage = [];
  }
  return out;
}

/** Replaces `${...}` data pills with the sample of the field they are in. */
function fillPills(value: unknown, path: string[] = []): unknown {
  if (typeof value === 'string' && /\$\{[^}]*\}/.test(value)) {
    const field = path.filter((p) => !/^\d+$/.test(p)).join('.');
    const sample = SAMPLES[field];
    if (sample === undefined) throw new Error(`a data pill in field ${field} has no sample value`);
    return sample;
  }
  if (Array.isArray(value)) return value.map((v, i) => fillPills(v, [...path, String(i)]));
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fillPills(v, [...path, k])]));
  return value;
}

const examples = DOCS.flatMap(extract);
const parsed = examples.map((e) => ({ ...e, body: JSON.parse(e.text) as unknown }));
const isEmptyObject = (v: unknown) => !!v && typeof v === 'object' && Object.keys(v).length === 0;

describe('request examples in the documentation', () => {
  it('finds the examples (the Flow Designer body and the smoke test curl bodies)', () => {
    expect(examples.filter((e) => e.where.startsWith('docs/deploy.md')).length).toBeGreaterThanOrEqual(3);
    expect(examples.some((e) => e.where.endsWith('(curl)'))).toBe(true);
    expect(examples.some((e) => !e.where.endsWith('(curl)'))).toBe(true);
  });

  const accepted = parsed.filter((e) => !isEmptyObject(e.body));
  it.each(accepted.map((e) => [e.where, e] as const))('%s is accepted by parseIntegrationRequest', (_where, e) => {
    const r = parseIntegrationRequest(fillPills(e.body));
    expect(r.ok ? [] : r.problems).toEqual([]);
  });

  it('the smoke test empty body is refused, as the documentation says', () => {
    const empty = parsed.filter((e) => isEmptyObject(e.body));
    expect(empty.length).toBeGreaterThan(0);
    for (const e of empty) expect(parseIntegrationRequest(e.body).ok).toBe(false);
  });
});
