/**
 * Where a secret must never appear after a run, for the canary tests: durable state of the given instances, activity
 * runs, logs, console output, emails, HTTP responses received, the redacted journal, and the raw journal bodies except
 * the channels that must carry a secret (Key Vault traffic, Entra token requests, ServiceNow password2 writes with
 * sysparm_input_display_value=true, and Graph addPassword responses).
 */
import type { LocalStack } from '../../sandbox/stack';

export interface Place {
  where: string;
  text: string;
}

export function secretFreePlaces(
  stack: LocalStack,
  instanceIds: string[],
  extra: { consoleLines: readonly string[]; httpResponses: readonly string[] },
): Place[] {
  const durable = stack.host.durable;
  const places: Place[] = [
    ...instanceIds.flatMap((id) => [
      {
        where: `durable status of ${id} with history, input and output`,
        text: JSON.stringify(durable.getStatus(id, { showHistory: true, showHistoryOutput: true, showInput: true })),
      },
      { where: `durable history of ${id}`, text: JSON.stringify(durable.history(id)) },
      { where: `custom status of ${id}`, text: JSON.stringify(durable.getStatus(id)?.customStatus) },
    ]),
    { where: 'activity inputs and results', text: JSON.stringify(durable.activityRuns) },
    { where: 'host logs (InvocationContext)', text: JSON.stringify(durable.logs) },
    { where: 'console output', text: extra.consoleLines.join('\n') },
    { where: 'emails', text: JSON.stringify(stack.sandbox.graph.outbox) },
    { where: 'HTTP responses of the API and pages', text: extra.httpResponses.join('\n') },
    { where: 'redacted journal', text: JSON.stringify(stack.sandbox.journal.entries()) },
  ];
  for (const e of stack.sandbox.journal.raw()) {
    if (e.service === 'keyvault') continue; // Key Vault traffic carries the values by design.
    const where = `${e.service} ${e.method} ${e.path}`;
    const tokenRequest = e.service === 'entra' && e.method === 'POST' && /\/token$/.test(e.path);
    const password2Write =
      e.service === 'servicenow' &&
      ['POST', 'PATCH', 'PUT'].includes(e.method) &&
      e.query.sysparm_input_display_value === 'true';
    const addPassword = e.service === 'graph' && e.method === 'POST' && e.path.endsWith('/addPassword');
    if (!tokenRequest && !password2Write) places.push({ where: `${where} request`, text: e.rawRequestBody });
    if (!addPassword) places.push({ where: `${where} response`, text: e.rawResponseBody });
  }
  return places;
}

/** `what in where` for every canary value found in a place. */
export function leaks(places: Place[], canaries: { what: string; value: string }[]): string[] {
  return places.flatMap((p) =>
    canaries.filter((c) => c.value && p.text.includes(c.value)).map((c) => `${c.what} in ${p.where}`),
  );
}
