/**
 * `npm run sandbox`: the compiled CLI starts every stand-in, writes the env file and answers a plain HTTPS client
 * (curl with the sandbox CA), then stops cleanly on SIGTERM.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(__dirname, '..', '..');
const cli = join(root, 'dist', 'sandbox', 'cli.js');

function parseEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z0-9_]+)=(.*)$/.exec(line);
    if (m) env[m[1]] = JSON.parse(m[2]) as string;
  }
  return env;
}

function curl(
  env: Record<string, string>,
  url: string,
  extra: string[] = [],
): { status: number; headers: string; body: string } {
  const out = execFileSync(
    'curl',
    ['-sS', '--cacert', env.NODE_EXTRA_CA_CERTS, '-D', '-', '-o', '-', '--max-time', '10', ...extra, url],
    { encoding: 'utf8' },
  );
  const split = out.indexOf('\r\n\r\n');
  const headers = out.slice(0, split);
  return { status: Number(/^HTTP\/\S+ (\d{3})/.exec(headers)?.[1]), headers, body: out.slice(split + 4) };
}

describe('npm run sandbox', () => {
  let child: ChildProcess;
  let env: Record<string, string>;

  beforeAll(async () => {
    if (!existsSync(cli))
      execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], {
        cwd: root,
      });
    const envFile = join(mkdtempSync(join(tmpdir(), 'sandbox-')), 'env');
    child = spawn(process.execPath, [cli], {
      cwd: root,
      env: { ...process.env, SANDBOX_ENV_FILE: envFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    await new Promise<void>((resolveUp, reject) => {
      let out = '';
      child.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('sandbox up')) resolveUp();
      });
      child.once('exit', (code) => reject(new Error(`sandbox exited early with ${code}: ${out}`)));
    });
    env = parseEnv(readFileSync(envFile, 'utf8'));
  }, 60000);

  afterAll(async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  });

  it('writes every variable the product and tests consume', () => {
    for (const name of [
      'NODE_EXTRA_CA_CERTS',
      'AZURE_TENANT_ID',
      'SANDBOX_TENANT_DOMAIN',
      'AZURE_CLIENT_ID',
      'AZURE_CLIENT_SECRET',
      'ENTRA_AUTHORITY_HOST',
      'GRAPH_BASE_URL',
      'KEY_VAULT_URL',
      'SERVICENOW_URL_TEMPLATE',
      'SANDBOX_SERVICENOW_INSTANCE',
      'SANDBOX_SERVICENOW_ADMIN_USER',
      'SERVICENOW_TOKEN_AUDIENCE',
      'SERVICENOW_IDENTITY_OBJECT_ID',
      'SANDBOX_CONTROL_URL',
      'FUNCTIONS_BASE_URL',
      'FUNCTIONS_KEY',
      'FUNCTIONS_SYSTEM_KEY',
      'PUBLIC_BASE_URL',
      'AzureWebJobsStorage',
    ])
      expect(env[name]).toMatch(/\S/);
    expect(env.SERVICENOW_URL_TEMPLATE).toContain('{instance}');
    // Token auth by default: no ServiceNow password in the settings.
    expect(env.SERVICENOW_AUTH_MODE).toBe('entra');
    expect(env).not.toHaveProperty('SANDBOX_SERVICENOW_ADMIN_PASSWORD');
    expect(existsSync(env.NODE_EXTRA_CA_CERTS)).toBe(true);
  });

  it('serves Entra discovery to curl over HTTPS with the sandbox CA', () => {
    const r = curl(env, `${env.ENTRA_AUTHORITY_HOST}/${env.AZURE_TENANT_ID}/v2.0/.well-known/openid-configuration`);
    expect(r.status).toBe(200);
    const doc = JSON.parse(r.body) as { issuer: string; token_endpoint: string };
    expect(doc.issuer).toBe(`https://login.microsoftonline.com/${env.AZURE_TENANT_ID}/v2.0`);
    expect(doc.token_endpoint).toBe(`${env.ENTRA_AUTHORITY_HOST}/${env.AZURE_TENANT_ID}/oauth2/v2.0/token`);
  });

  it('issues a token to the Function App identity over curl', () => {
    const r = curl(env, `${env.ENTRA_AUTHORITY_HOST}/${env.AZURE_TENANT_ID}/oauth2/v2.0/token`, [
      '--data-urlencode',
      'grant_type=client_credentials',
      '--data-urlencode',
      `client_id=${env.AZURE_CLIENT_ID}`,
      '--data-urlencode',
      `client_secret=${env.AZURE_CLIENT_SECRET}`,
      '--data-urlencode',
      'scope=https://graph.microsoft.com/.default',
    ]);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ token_type: 'Bearer', access_token: expect.any(String) });
  });

  it('answers Key Vault without a token with the 401 challenge naming the tenant', () => {
    const r = curl(env, `${env.KEY_VAULT_URL}secrets?api-version=7.5`);
    expect(r.status).toBe(401);
    expect(r.headers.toLowerCase()).toContain(
      `www-authenticate: bearer authorization="${env.ENTRA_AUTHORITY_HOST}/${env.AZURE_TENANT_ID}"`.toLowerCase(),
    );
  });

  it("refuses Graph without a token and serves ServiceNow to the Function identity's token for the control-plane audience", () => {
    expect(curl(env, `${env.GRAPH_BASE_URL}/v1.0/applications`).status).toBe(401);
    const token = curl(env, `${env.ENTRA_AUTHORITY_HOST}/${env.AZURE_TENANT_ID}/oauth2/v2.0/token`, [
      '--data-urlencode',
      'grant_type=client_credentials',
      '--data-urlencode',
      `client_id=${env.AZURE_CLIENT_ID}`,
      '--data-urlencode',
      `client_secret=${env.AZURE_CLIENT_SECRET}`,
      '--data-urlencode',
      `scope=${env.SERVICENOW_TOKEN_AUDIENCE}/.default`,
    ]);
    expect(token.status).toBe(200);
    const accessToken = (JSON.parse(token.body) as { access_token: string }).access_token;
    const base = env.SERVICENOW_URL_TEMPLATE.replace('{instance}', env.SANDBOX_SERVICENOW_INSTANCE);
    expect(curl(env, `${base}/api/now/table/incident?sysparm_limit=1`).status).toBe(401);
    const r = curl(env, `${base}/api/now/table/incident?sysparm_limit=1`, [
      '-H',
      `Authorization: Bearer ${accessToken}`,
      '-H',
      'Accept: application/json',
    ]);
    expect(r.status).toBe(200);
    expect((JSON.parse(r.body) as { result: unknown[] }).result).toHaveLength(1);
  });

  it('serves the durable HTTP API of the local Functions host at the paths the Functions host uses, with the system key', () => {
    const base = `${env.FUNCTIONS_BASE_URL}/runtime/webhooks/durabletask/instances`;
    const code = `code=${encodeURIComponent(env.FUNCTIONS_SYSTEM_KEY)}`;
    expect(curl(env, `${base}/no-such-instance?${code}`).status).toBe(404);
    expect(curl(env, `${base}?${code}`).status).toBe(200);
    expect(curl(env, base).status).toBe(401);
  });

  it('exposes the journal over the control API', () => {
    const r = curl(env, `${env.SANDBOX_CONTROL_URL}/journal?service=entra`);
    expect(r.status).toBe(200);
    const { entries } = JSON.parse(r.body) as { entries: { path: string; body?: unknown }[] };
    expect(entries.some((e) => e.path.endsWith('/oauth2/v2.0/token'))).toBe(true);
    expect(r.body).not.toContain(env.AZURE_CLIENT_SECRET);
  });
});
