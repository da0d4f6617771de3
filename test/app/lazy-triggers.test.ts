/**
 * The trigger handlers' modules (src/functions/*: request schemas, pages, the OpenAPI document) are loaded on the
 * first call of one of their functions, not when the entry module loads (src/functions/index.ts). Each module is
 * wrapped so that requiring it is recorded; the modules are the real ones.
 */
const MODULES = [
  'integrations',
  'decommission',
  'profiles',
  'inventory',
  'servicenow-trust',
  'openapi',
  'approvals',
  'rotation',
  'alerts',
  'health',
  'dashboard',
];

const loaded: string[] = [];
for (const name of MODULES)
  jest.doMock(`../../src/functions/${name}`, () => {
    loaded.push(name);
    return jest.requireActual<object>(`../../src/functions/${name}`);
  });

it('the entry module loads none of the trigger modules', () => {
  // Outside the host the entry logs its settings problems and @azure/functions its test mode: not under test here.
  const quiet = [jest.spyOn(console, 'error'), jest.spyOn(console, 'warn')].map((s) =>
    s.mockImplementation(() => undefined),
  );
  try {
    jest.isolateModules(() => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded here, after the modules are wrapped
      require('../../src/functions/index');
    });
  } finally {
    for (const s of quiet) s.mockRestore();
  }
  expect(loaded).toEqual([]);
});
