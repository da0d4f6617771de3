import path from 'node:path';

import { loadFunctionApp } from '../../sandbox/host/registry';
import { parseRoute } from '../../sandbox/host/routes';

// The lead extends this with the expected function names as src/functions/index.ts grows.
describe('real entry module (src/functions/index.ts)', () => {
  const registry = loadFunctionApp(path.join(__dirname, '../../src/functions/index.ts'));

  it('loads through the local host loader and calls app.setup', () => {
    expect(registry.setupOptions).toEqual({ enableHttpStream: false });
  });

  it('registers only well-formed functions the local host can serve', () => {
    for (const f of registry.functions) {
      expect(f.kind).not.toBe('other');
      if (f.kind === 'http') expect(() => parseRoute(f.route)).not.toThrow();
      if (f.kind === 'timer') expect(f.schedule.trim().split(/\s+/)).toHaveLength(6);
    }
    const names = registry.functions.map((f) => f.name.toLowerCase());
    expect(new Set(names).size).toBe(names.length);
  });
});
