/**
 * The status of an orchestration instance through the durable client, `undefined` when no such instance exists.
 * durable-functions' `getStatus` rejects with an error whose message carries "HTTP 404" for an unknown instance
 * (https://github.com/Azure/azure-functions-durable-js/blob/v3.x/src/durableClient/DurableClient.ts); an instance just
 * started may not be visible yet, so a caller can ask to look again after the given delays.
 */
import type { DurableClient, DurableOrchestrationStatus } from 'durable-functions';

const isNotFound = (err: unknown): boolean => /HTTP 404/.test(err instanceof Error ? err.message : String(err));

export async function orchestrationStatus(
  client: DurableClient,
  instanceId: string,
  opts: { notFoundRetryDelaysMs?: readonly number[]; sleep?: (ms: number) => Promise<void> } = {},
): Promise<DurableOrchestrationStatus | undefined> {
  const delays = opts.notFoundRetryDelaysMs ?? [];
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (let attempt = 0; ; attempt++) {
    try {
      return await client.getStatus(instanceId);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      if (attempt >= delays.length) return undefined;
      await sleep(delays[attempt]);
    }
  }
}
