/** What the Entra ID spoke tests read from the sandbox, in-process (no journal entry, no fault). */
import { GRAPH_APP_ID } from '../../sandbox/directory';
import type { LocalStack } from '../../sandbox/stack';
import { entraIdSpoke } from '../../src/profiles/entra-id-spoke';
import { requestFor } from '../e2e/stack-driver';

/** A request for the spoke profile on `instance`, with request options and other fields. */
export const spokeRequest = (
  stack: LocalStack,
  instance: string,
  options: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
) =>
  requestFor(stack, instance, { profile: entraIdSpoke.id, options: { testEnvironment: true, ...options }, ...extra });

/** The app role values the app's service principal holds on Microsoft Graph, sorted. */
export function grantedOnGraph(stack: LocalStack, appId: string): string[] {
  const { directory } = stack.sandbox;
  const graph = directory.spByAppId(GRAPH_APP_ID);
  const sp = directory.spByAppId(appId);
  return graph && sp ? directory.rolesFor(sp.id, graph).sort() : [];
}

/** The values of one ServiceNow record of the sandbox. */
export const snRow = (stack: LocalStack, instance: string, table: string, sysId: string) =>
  stack.sandbox.servicenow.records(instance, table).find((r) => r.values.sys_id === sysId)?.values;
