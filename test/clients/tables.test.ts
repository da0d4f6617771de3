/**
 * Table Storage (registry, approval tokens, leases, ownership ledger, mail markers) has a deadline per attempt like
 * every other client: an endpoint that accepts the connection and never answers fails the call instead of holding an
 * activity or HTTP trigger until the host's function timeout.
 */
import net from 'node:net';

import { createTableClient } from '../../src/clients/tables';

it('a Table Storage call against an endpoint that never answers fails within a deadline', async () => {
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => sockets.push(s)); // accepts, reads, never answers
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const key = Buffer.from('k'.repeat(64)).toString('base64');
  const client = createTableClient({
    table: 'integrations',
    timeoutMs: 300,
    connectionString: `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${key};TableEndpoint=http://127.0.0.1:${port}/devstoreaccount1;`,
  });
  try {
    const outcome = await Promise.race([
      client.getEntity('p', 'r').then(
        () => 'answered',
        () => 'failed', // what a deadline would give
      ),
      new Promise((r) => setTimeout(() => r('still hanging after 20 s'), 20_000)),
    ]);
    expect(outcome).toBe('failed');
  } finally {
    sockets.forEach((s) => s.destroy());
    server.close();
  }
}, 30_000);
