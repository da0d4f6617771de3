/**
 * infra/hooks/control-plane-audience.sh, the azd hooks that create the control-plane audience app and give the Function
 * App's identity its role, run against stand-ins of the az and azd CLIs (test/infra/fake-cli) that keep Entra state in
 * a file: the first run creates exactly what the ServiceNow trust needs, a second run writes nothing, and the azure.yaml
 * hooks call it.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(__dirname, '..', '..');
const script = path.join(root, 'infra', 'hooks', 'control-plane-audience.sh');
const fakeCli = path.join(__dirname, 'fake-cli');

interface State {
  apps: {
    appId: string;
    displayName: string;
    identifierUris: string[];
    api: { requestedAccessTokenVersion?: number };
    appRoles: { value: string; id: string; allowedMemberTypes: string[]; isEnabled: boolean }[];
  }[];
  sps: { id: string; appId: string; appRoleAssignmentRequired: boolean }[];
  assignments: { principalId: string; resourceId: string; appRoleId: string }[];
  env: Record<string, string>;
  log: { cmd: string; write: boolean }[];
}

function world(env: Record<string, string> = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'audience-hook-'));
  const file = path.join(dir, 'state.json');
  const initial: State = { apps: [], sps: [], assignments: [], env: { AZURE_ENV_NAME: 'prod', ...env }, log: [] };
  fs.writeFileSync(file, JSON.stringify(initial));
  const read = (): State => JSON.parse(fs.readFileSync(file, 'utf8')) as State;
  const run = (step: string) => {
    const before = read().log.length;
    const r = spawnSync('sh', [script, step], {
      env: { ...process.env, PATH: `${fakeCli}${path.delimiter}${process.env.PATH ?? ''}`, FAKE_ENTRA_STATE: file },
      encoding: 'utf8',
    });
    return {
      code: r.status,
      out: r.stdout + r.stderr,
      writes: read()
        .log.slice(before)
        .filter((l) => l.write),
    };
  };
  return {
    read,
    run,
    set: (k: string, v: string) =>
      fs.writeFileSync(file, JSON.stringify({ ...read(), env: { ...read().env, [k]: v } })),
  };
}

describe('the control-plane audience azd hooks', () => {
  it('create the app the ServiceNow trust needs, give the identity its role, and write nothing the second time', () => {
    const w = world();
    const pre = w.run('preprovision');
    expect({ code: pre.code, out: pre.out }).toEqual({
      code: 0,
      out: expect.stringContaining('created app') as string,
    });
    const s = w.read();
    expect(s.apps).toHaveLength(1);
    const app = s.apps[0];
    expect(app.displayName).toBe('m365-snow-provisioner ServiceNow control plane (prod)');
    expect(app.identifierUris).toEqual([`api://${app.appId}`]);
    expect(app.api.requestedAccessTokenVersion).toBe(2);
    expect(app.appRoles).toEqual([
      expect.objectContaining({
        value: 'ServiceNow.ControlPlane',
        allowedMemberTypes: ['Application'],
        isEnabled: true,
      }),
    ]);
    expect(s.sps).toEqual([expect.objectContaining({ appId: app.appId, appRoleAssignmentRequired: true })]);
    expect(s.env.SERVICENOW_TOKEN_AUDIENCE).toBe(`api://${app.appId}`);
    expect(s.assignments).toEqual([]);

    // Provisioning created the identity: the post-provision hook gives it the role, once.
    w.set('AZURE_MANAGED_IDENTITY_PRINCIPAL_ID', '11111111-2222-3333-4444-555555555555');
    const post = w.run('postprovision');
    expect(post.code).toBe(0);
    expect(w.read().assignments).toEqual([
      {
        principalId: '11111111-2222-3333-4444-555555555555',
        resourceId: w.read().sps[0].id,
        appRoleId: app.appRoles[0].id,
        id: expect.any(String) as string,
      },
    ]);

    // Idempotent: both hooks again change nothing in Entra (azd env set of the same value is not an Entra write).
    expect(w.run('preprovision').writes).toEqual([]);
    expect(w.run('postprovision').writes).toEqual([]);
    expect(w.read().apps).toHaveLength(1);
    expect(w.read().assignments).toHaveLength(1);
  });

  it('does nothing with basic or oauth auth, or when the audience is managed by hand', () => {
    const cases: Record<string, string>[] = [
      { SERVICENOW_AUTH_MODE: 'basic' },
      { SERVICENOW_TOKEN_AUDIENCE_MANAGED: 'false' },
    ];
    for (const env of cases) {
      const w = world(env);
      const r = w.run('preprovision');
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/nothing to do/);
      expect(w.read().log).toEqual([]);
    }
  });

  it('refuses the post-provision step without the app or the identity, and an unknown step', () => {
    const w = world();
    expect(w.run('postprovision')).toMatchObject({
      code: 1,
      out: expect.stringContaining('preprovision hook creates it'),
    });
    w.run('preprovision');
    expect(w.run('postprovision')).toMatchObject({
      code: 1,
      out: expect.stringContaining('AZURE_MANAGED_IDENTITY_PRINCIPAL_ID'),
    });
    expect(w.run('later').code).toBe(2);
  });

  it('is what azure.yaml runs before and after provisioning', () => {
    const yaml = fs.readFileSync(path.join(root, 'azure.yaml'), 'utf8');
    expect(yaml).toMatch(
      /preprovision:\s*\n\s*posix:\s*\n\s*shell: sh\s*\n\s*run: sh infra\/hooks\/control-plane-audience\.sh preprovision/,
    );
    expect(yaml).toMatch(
      /postprovision:\s*\n\s*posix:\s*\n\s*shell: sh\s*\n\s*run: sh infra\/hooks\/control-plane-audience\.sh postprovision/,
    );
  });
});
