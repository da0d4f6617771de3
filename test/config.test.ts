import { createDeps } from '../src/app/deps';
import * as serviceNowAuth from '../src/clients/servicenow-auth';
import {
  ConfigError,
  entraEndpoints,
  loadConfig,
  REQUIRED_SETTINGS,
  serviceNowCredentialSecretNames,
  serviceNowInstanceUrl,
  SETTING_NAMES,
} from '../src/config';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const minimal = {
  KEY_VAULT_URL: 'https://kv-prov.vault.azure.net/',
  MAIL_SENDER: 'provisioner@contoso.com',
  PUBLIC_BASE_URL: 'https://func-prov.azurewebsites.net/',
  AZURE_TENANT_ID: TENANT,
  TASKHUB_NAME: 'provisioner',
  AzureWebJobsStorage__tableServiceUri: 'https://stprov.table.core.windows.net/',
  APPROVERS: 'approver@contoso.com',
  SERVICENOW_TOKEN_AUDIENCE: 'api://0f4b8e2a-7c1d-4e5f-9a3b-2c6d8e0f1a2b',
};

function problemsOf(env: Record<string, string | undefined>): Array<{ name: string; reason: string }> {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return [...(err as ConfigError).problems];
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('takes the registry storage from the identity-based table URL, or a connection string for Azurite', () => {
    expect(loadConfig(minimal).tables).toEqual({ serviceUrl: 'https://stprov.table.core.windows.net' });
    const local = {
      ...minimal,
      AzureWebJobsStorage__tableServiceUri: undefined,
      AzureWebJobsStorage: 'UseDevelopmentStorage=true',
    };
    expect(loadConfig(local).tables).toEqual({ connectionString: 'UseDevelopmentStorage=true' });
    expect(problemsOf({ ...local, AzureWebJobsStorage: 'not a connection string' })[0]?.name).toBe(
      'AzureWebJobsStorage__tableServiceUri',
    );
  });

  it('allows a plain-http public base URL only on loopback (the local Functions host)', () => {
    expect(loadConfig({ ...minimal, PUBLIC_BASE_URL: 'http://127.0.0.1:7071' }).publicBaseUrl).toBe(
      'http://127.0.0.1:7071',
    );
    expect(problemsOf({ ...minimal, PUBLIC_BASE_URL: 'http://func.example.com' }).map((p) => p.name)).toEqual([
      'PUBLIC_BASE_URL',
    ]);
  });

  it('reads the per-service call deadlines in seconds and refuses values outside 1..300', () => {
    const c = loadConfig({
      ...minimal,
      ENTRA_TIMEOUT_SECONDS: '5',
      GRAPH_TIMEOUT_SECONDS: '7',
      KEY_VAULT_TIMEOUT_SECONDS: '9',
      SERVICENOW_TIMEOUT_SECONDS: '11',
    });
    expect([c.entra.timeoutMs, c.graph.timeoutMs, c.keyVault.timeoutMs, c.serviceNow.timeoutMs]).toEqual([
      5000, 7000, 9000, 11000,
    ]);
    let err: unknown;
    try {
      loadConfig({ ...minimal, GRAPH_TIMEOUT_SECONDS: '0', KEY_VAULT_TIMEOUT_SECONDS: 'soon' });
    } catch (e) {
      err = e;
    }
    expect((err as { problems: { name: string }[] }).problems.map((p) => p.name).sort()).toEqual([
      'GRAPH_TIMEOUT_SECONDS',
      'KEY_VAULT_TIMEOUT_SECONDS',
    ]);
  });

  it('applies production defaults and derives Graph scope, custom host and vault host', () => {
    const c = loadConfig(minimal);
    expect(c.entra.authorityHost).toBe('https://login.microsoftonline.com');
    expect(c.graph).toEqual({
      baseUrl: 'https://graph.microsoft.com',
      scope: 'https://graph.microsoft.com/.default',
      customHost: 'graph.microsoft.com',
      timeoutMs: 60_000,
    });
    expect(c.entra.timeoutMs).toBe(30_000);
    expect(c.keyVault).toEqual({
      url: 'https://kv-prov.vault.azure.net/',
      host: 'kv-prov.vault.azure.net',
      challengeResourceVerification: true,
      timeoutMs: 30_000,
    });
    expect(c.serviceNow).toEqual({
      urlTemplate: 'https://{instance}.service-now.com',
      authMode: 'entra',
      token: {
        audience: 'api://0f4b8e2a-7c1d-4e5f-9a3b-2c6d8e0f1a2b',
        scope: 'api://0f4b8e2a-7c1d-4e5f-9a3b-2c6d8e0f1a2b/.default',
        clientId: '0f4b8e2a-7c1d-4e5f-9a3b-2c6d8e0f1a2b',
      },
      credentialSecretPrefix: 'servicenow-',
      // One vault unless SERVICENOW_CREDENTIALS_VAULT_URL names another.
      credentialsVaultUrl: 'https://kv-prov.vault.azure.net/',
      timeoutMs: 60_000,
    });
    expect(c.publicBaseUrl).toBe('https://func-prov.azurewebsites.net');
    expect(c.identity).toEqual({});
    expect(c.taskHubName).toBe('provisioner');
  });

  it('takes sandbox endpoints from settings: custom host without port, verification off', () => {
    const c = loadConfig({
      ...minimal,
      ENTRA_AUTHORITY_HOST: 'https://127.0.0.1:4001/',
      GRAPH_BASE_URL: 'https://127.0.0.1:4002',
      KEY_VAULT_URL: 'https://127.0.0.1:4003/',
      SERVICENOW_URL_TEMPLATE: 'https://127.0.0.1:4004/{instance}',
      KEY_VAULT_CHALLENGE_RESOURCE_VERIFICATION: 'FALSE',
      AZURE_CLIENT_ID: '11111111-2222-3333-4444-555555555555',
      AZURE_CLIENT_SECRET: 'abc8Q~sandbox-secret',
      SERVICENOW_AUTH_MODE: 'oauth',
    });
    expect(c.entra.authorityHost).toBe('https://127.0.0.1:4001');
    expect(c.graph.scope).toBe('https://127.0.0.1:4002/.default');
    expect(c.graph.customHost).toBe('127.0.0.1');
    expect(c.keyVault.challengeResourceVerification).toBe(false);
    expect(c.identity.clientSecret).toBe('abc8Q~sandbox-secret');
    expect(c.serviceNow.authMode).toBe('oauth');
    expect(serviceNowInstanceUrl(c, 'dev123')).toBe('https://127.0.0.1:4004/dev123');
  });

  it('treats blank settings as missing and lists every missing required setting at once', () => {
    const problems = problemsOf({ KEY_VAULT_URL: '  ' });
    expect(problems.map((p) => p.name).sort()).toEqual(
      [...REQUIRED_SETTINGS, 'AzureWebJobsStorage__tableServiceUri', 'APPROVERS', 'SERVICENOW_TOKEN_AUDIENCE'].sort(),
    );
    expect(problems.every((p) => p.reason.startsWith('is required'))).toBe(true);
  });

  it('lists every invalid setting with a reason, without echoing the secret', () => {
    const secret = 'xyz1Q~do-not-print-this-secret-value-123';
    let message = '';
    try {
      loadConfig({
        ...minimal,
        ENTRA_AUTHORITY_HOST: 'http://login.microsoftonline.com',
        GRAPH_BASE_URL: 'not a url',
        KEY_VAULT_URL: 'http://kv.vault.azure.net',
        KEY_VAULT_CHALLENGE_RESOURCE_VERIFICATION: 'maybe',
        SERVICENOW_URL_TEMPLATE: 'https://dev.service-now.com',
        SERVICENOW_AUTH_MODE: 'kerberos',
        SERVICENOW_CREDENTIAL_SECRET_PREFIX: 'sn_',
        MAIL_SENDER: 'not-an-address',
        PUBLIC_BASE_URL: 'ftp://x',
        AZURE_TENANT_ID: 'contoso.onmicrosoft.com',
        AZURE_CLIENT_SECRET: secret,
        TASKHUB_NAME: 'a-b',
      });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const byName = Object.fromEntries((err as ConfigError).problems.map((p) => [p.name, p.reason]));
      expect(byName).toEqual({
        ENTRA_AUTHORITY_HOST: 'must be an absolute https URL',
        GRAPH_BASE_URL: 'must be an absolute https URL',
        KEY_VAULT_URL: 'must be an absolute https URL',
        KEY_VAULT_CHALLENGE_RESOURCE_VERIFICATION: 'must be true or false',
        SERVICENOW_URL_TEMPLATE: 'must contain {instance}',
        SERVICENOW_AUTH_MODE: 'must be entra, basic or oauth',
        SERVICENOW_CREDENTIAL_SECRET_PREFIX: 'must start with a letter and hold only letters, digits and -',
        MAIL_SENDER: 'must be a mailbox address (UPN)',
        PUBLIC_BASE_URL: 'must be an absolute https URL (http only on loopback)',
        AZURE_TENANT_ID: 'must be a GUID (the directory tenant id)',
        AZURE_CLIENT_ID: 'is required when AZURE_CLIENT_SECRET is set',
        TASKHUB_NAME: 'must be 3-45 letters and digits, starting with a letter',
      });
      message = (err as Error).message;
    }
    expect(message).toContain('12 problems');
    expect(message).not.toContain(secret);
  });

  it('refuses a ServiceNow URL template that is not https', () => {
    expect(problemsOf({ ...minimal, SERVICENOW_URL_TEMPLATE: 'http://{instance}.service-now.com' })).toEqual([
      { name: 'SERVICENOW_URL_TEMPLATE', reason: 'must be an absolute https URL' },
    ]);
  });

  it('applies the rotation defaults: daily 02:00 UTC sweep, 30-day window, 365-day maximum age', () => {
    expect(loadConfig(minimal).rotation).toEqual({
      schedule: '0 0 2 * * *',
      windowDays: 30,
      maxAgeDays: 365,
      secretLifetimeDays: 180,
      graceMinutes: 1440,
      handoffReminderMinutes: 1440,
      handoffDeadlineMinutes: 10080,
      verifyAttempts: 6,
      verifyRetrySeconds: 10,
    });
  });

  it('reads the rotation settings as given', () => {
    const c = loadConfig({
      ...minimal,
      ROTATION_SCHEDULE: ' 0 30 */6 * * 1-5 ',
      ROTATION_WINDOW_DAYS: '14',
      ROTATION_MAX_AGE_DAYS: '90',
      ROTATION_SECRET_LIFETIME_DAYS: '60',
      ROTATION_GRACE_MINUTES: '0',
      HANDOFF_REMINDER_MINUTES: '60',
      HANDOFF_DEADLINE_MINUTES: '2880',
      ROTATION_VERIFY_ATTEMPTS: '3',
      ROTATION_VERIFY_RETRY_SECONDS: '5',
    });
    expect(c.rotation).toEqual({
      schedule: '0 30 */6 * * 1-5',
      windowDays: 14,
      maxAgeDays: 90,
      secretLifetimeDays: 60,
      graceMinutes: 0,
      handoffReminderMinutes: 60,
      handoffDeadlineMinutes: 2880,
      verifyAttempts: 3,
      verifyRetrySeconds: 5,
    });
  });

  it('lists every invalid rotation setting at once', () => {
    const problems = problemsOf({
      ...minimal,
      ROTATION_SCHEDULE: '0 2 * * *',
      ROTATION_WINDOW_DAYS: 'thirty',
      ROTATION_MAX_AGE_DAYS: '800',
      ROTATION_SECRET_LIFETIME_DAYS: '0',
      ROTATION_GRACE_MINUTES: '-1',
      HANDOFF_REMINDER_MINUTES: '1',
      HANDOFF_DEADLINE_MINUTES: '1.5',
      ROTATION_VERIFY_ATTEMPTS: '21',
      ROTATION_VERIFY_RETRY_SECONDS: '0',
    });
    expect(problems.map((p) => p.name).sort()).toEqual(
      [
        'HANDOFF_DEADLINE_MINUTES',
        'HANDOFF_REMINDER_MINUTES',
        'ROTATION_GRACE_MINUTES',
        'ROTATION_MAX_AGE_DAYS',
        'ROTATION_SCHEDULE',
        'ROTATION_SECRET_LIFETIME_DAYS',
        'ROTATION_VERIFY_ATTEMPTS',
        'ROTATION_VERIFY_RETRY_SECONDS',
        'ROTATION_WINDOW_DAYS',
      ].sort(),
    );
    expect(problems.find((p) => p.name === 'ROTATION_SCHEDULE')?.reason).toMatch(/six numeric fields/);
  });

  it.each([
    ['0 0 2 * * *', true],
    ['*/30 * * * * *', true],
    ['0 0 2 1,15 1-12/2 0', true],
    ['0 0 2 * *', false],
    ['0 0 24 * * *', false],
    ['0 0 2 * * 7', false],
    ['0 0 2 * Jan *', false],
    ['0 0 5-2 * * *', false],
  ])('ROTATION_SCHEDULE %p valid: %p', (schedule, valid) => {
    const problems = (() => {
      try {
        loadConfig({ ...minimal, ROTATION_SCHEDULE: schedule });
        return [];
      } catch (err) {
        return (err as ConfigError).problems.map((p) => p.name);
      }
    })();
    expect(problems).toEqual(valid ? [] : ['ROTATION_SCHEDULE']);
  });

  it('reads the alert settings, with their defaults', () => {
    expect(loadConfig(minimal).alerts).toEqual({
      schedule: '0 0 * * * *',
      expiryStagesDays: [30, 14, 7, 1],
      overdueMinutes: 1440,
      channels: ['email'],
      emailRecipients: [],
    });
    expect(
      loadConfig({
        ...minimal,
        ALERT_EXPIRY_STAGES_DAYS: '7, 60,1,7',
        ALERT_CHANNELS: 'Webhook,email',
        ALERT_EMAIL_RECIPIENTS: 'Ops@Contoso.com; sec@contoso.com',
        ALERT_WEBHOOK_SECRET_NAME: 'alert-webhook',
        ALERT_WEBHOOK_FORMAT: 'json',
      }).alerts,
    ).toMatchObject({
      expiryStagesDays: [60, 7, 1],
      channels: ['webhook', 'email'],
      emailRecipients: ['ops@contoso.com', 'sec@contoso.com'],
      webhook: { secretName: 'alert-webhook', format: 'json' },
    });
    expect(loadConfig({ ...minimal, ALERT_CHANNELS: 'none' }).alerts.channels).toEqual([]);
  });

  it('lists every invalid alert setting by name, and asks for the webhook secret when the webhook is on', () => {
    const problems = problemsOf({
      ...minimal,
      ALERT_SCHEDULE: '0 * * * *',
      ALERT_EXPIRY_STAGES_DAYS: '30,0',
      ALERT_OVERDUE_MINUTES: '1',
      ALERT_CHANNELS: 'email,pager',
      ALERT_EMAIL_RECIPIENTS: 'not-an-address',
      ALERT_WEBHOOK_FORMAT: 'slack',
    });
    expect(problems.map((p) => p.name).sort()).toEqual([
      'ALERT_CHANNELS',
      'ALERT_EMAIL_RECIPIENTS',
      'ALERT_EXPIRY_STAGES_DAYS',
      'ALERT_OVERDUE_MINUTES',
      'ALERT_SCHEDULE',
      'ALERT_WEBHOOK_FORMAT',
    ]);
    expect(problemsOf({ ...minimal, ALERT_CHANNELS: 'email,webhook' })).toEqual([
      {
        name: 'ALERT_WEBHOOK_SECRET_NAME',
        reason: 'is required when ALERT_CHANNELS includes webhook (the Key Vault secret holding the webhook URL)',
      },
    ]);
    expect(problemsOf({ ...minimal, ALERT_WEBHOOK_SECRET_NAME: 'https://hooks/x?sig=1' }).map((p) => p.name)).toEqual([
      'ALERT_WEBHOOK_SECRET_NAME',
    ]);
  });

  it('refuses rotation settings that contradict each other', () => {
    expect(problemsOf({ ...minimal, ROTATION_WINDOW_DAYS: '180', ROTATION_SECRET_LIFETIME_DAYS: '180' })).toEqual([
      { name: 'ROTATION_WINDOW_DAYS', reason: 'must be less than ROTATION_SECRET_LIFETIME_DAYS' },
    ]);
    expect(
      problemsOf({
        ...minimal,
        ROTATION_WINDOW_DAYS: '7',
        HANDOFF_DEADLINE_MINUTES: '10080',
        ROTATION_GRACE_MINUTES: '1',
      }),
    ).toEqual([
      { name: 'ROTATION_WINDOW_DAYS', reason: 'must be longer than HANDOFF_DEADLINE_MINUTES + ROTATION_GRACE_MINUTES' },
    ]);
    expect(problemsOf({ ...minimal, HANDOFF_REMINDER_MINUTES: '10080' })).toEqual([
      { name: 'HANDOFF_REMINDER_MINUTES', reason: 'must be less than HANDOFF_DEADLINE_MINUTES' },
    ]);
  });

  it('reads the approver policy: addresses and group ids separated by , or ;, and the quorum', () => {
    const c = loadConfig({
      ...minimal,
      APPROVERS: ' Ann@Contoso.com; bob@contoso.com,ann@contoso.com ',
      APPROVER_GROUPS: 'A7F0C2D4-5B6E-4F81-9A3C-2D4E6F8A0B1C;',
      APPROVAL_QUORUM: '3',
    });
    expect(c.approvals).toEqual({
      approvers: ['ann@contoso.com', 'bob@contoso.com'],
      groups: ['a7f0c2d4-5b6e-4f81-9a3c-2d4e6f8a0b1c'],
      quorum: 3,
    });
    expect(loadConfig(minimal).approvals).toEqual({ approvers: ['approver@contoso.com'], groups: [], quorum: 1 });
  });

  it('refuses a deployment nobody can approve, malformed approvers or groups, and an unreachable quorum', () => {
    expect(problemsOf({ ...minimal, APPROVERS: undefined })).toEqual([
      { name: 'APPROVERS', reason: expect.stringContaining('is required (or APPROVER_GROUPS)') },
    ]);
    expect(problemsOf({ ...minimal, APPROVERS: 'not-an-address' }).map((p) => p.name)).toEqual(['APPROVERS']);
    expect(problemsOf({ ...minimal, APPROVER_GROUPS: 'approvers' }).map((p) => p.name)).toEqual(['APPROVER_GROUPS']);
    expect(problemsOf({ ...minimal, APPROVAL_QUORUM: '2' }).map((p) => p.name)).toEqual(['APPROVAL_QUORUM']);
    expect(problemsOf({ ...minimal, APPROVAL_QUORUM: '0' }).map((p) => p.name)).toEqual(['APPROVAL_QUORUM']);
    // Groups alone suffice, and may hold enough members for any quorum.
    const groupsOnly = { ...minimal, APPROVERS: undefined, APPROVER_GROUPS: 'a7f0c2d4-5b6e-4f81-9a3c-2d4e6f8a0b1c' };
    expect(loadConfig({ ...groupsOnly, APPROVAL_QUORUM: '2' }).approvals.quorum).toBe(2);
  });

  it('exports every setting name it reads', () => {
    for (const name of [...REQUIRED_SETTINGS, 'ENTRA_AUTHORITY_HOST', 'AZURE_CLIENT_SECRET'])
      expect(SETTING_NAMES).toContain(name);
  });
});

describe('derived endpoints', () => {
  const c = loadConfig(minimal);

  it('builds the ServiceNow instance URL and refuses names that would change host or path', () => {
    expect(serviceNowInstanceUrl(c, 'dev12345')).toBe('https://dev12345.service-now.com');
    for (const bad of ['evil.com/x', 'a@b', 'Dev1', '', '-x'])
      expect(() => serviceNowInstanceUrl(c, bad)).toThrow(ConfigError);
  });

  it('names the ServiceNow credential secrets with the prefix', () => {
    expect(serviceNowCredentialSecretNames(c, 'dev1')).toEqual({
      username: 'servicenow-dev1-username',
      password: 'servicenow-dev1-password',
      clientId: 'servicenow-dev1-client-id',
      clientSecret: 'servicenow-dev1-client-secret',
    });
  });

  it('builds Entra token and metadata URLs from the authority host', () => {
    expect(entraEndpoints('https://login.microsoftonline.us/', TENANT)).toEqual({
      tokenV1: `https://login.microsoftonline.us/${TENANT}/oauth2/token`,
      tokenV2: `https://login.microsoftonline.us/${TENANT}/oauth2/v2.0/token`,
      metadataV1: `https://login.microsoftonline.us/${TENANT}/.well-known/openid-configuration`,
      metadataV2: `https://login.microsoftonline.us/${TENANT}/v2.0/.well-known/openid-configuration`,
      jwksV2: `https://login.microsoftonline.us/${TENANT}/discovery/v2.0/keys`,
    });
  });
});

describe('ServiceNow token auth settings', () => {
  it('defaults to entra, requires the audience as api://<client id> and derives the scope and client id', () => {
    const { SERVICENOW_TOKEN_AUDIENCE: _audience, ...withoutAudience } = minimal;
    expect(problemsOf(withoutAudience).map((p) => p.name)).toEqual(['SERVICENOW_TOKEN_AUDIENCE']);
    expect(loadConfig({ ...withoutAudience, SERVICENOW_AUTH_MODE: 'basic' }).serviceNow.token).toBeUndefined();
    const c = loadConfig({
      ...minimal,
      SERVICENOW_TOKEN_AUDIENCE: 'API://0F4B8E2A-7C1D-4E5F-9A3B-2C6D8E0F1A2B/',
      SERVICENOW_IDENTITY_OBJECT_ID: 'A1B2C3D4-0000-4000-8000-00000000000A',
    });
    expect(c.serviceNow.token).toEqual({
      audience: 'api://0f4b8e2a-7c1d-4e5f-9a3b-2c6d8e0f1a2b',
      scope: 'api://0f4b8e2a-7c1d-4e5f-9a3b-2c6d8e0f1a2b/.default',
      clientId: '0f4b8e2a-7c1d-4e5f-9a3b-2c6d8e0f1a2b',
    });
    expect(c.serviceNow.identityObjectId).toBe('a1b2c3d4-0000-4000-8000-00000000000a');
    expect(
      problemsOf({
        ...minimal,
        SERVICENOW_TOKEN_AUDIENCE: 'https://contoso.com/servicenow',
        SERVICENOW_IDENTITY_OBJECT_ID: 'me',
      }),
    ).toEqual([
      { name: 'SERVICENOW_TOKEN_AUDIENCE', reason: 'must be an application ID URI api://<application (client) id>' },
      {
        name: 'SERVICENOW_IDENTITY_OBJECT_ID',
        reason: "must be a GUID (the object id of the app identity's service principal)",
      },
    ]);
  });
});

describe('the ServiceNow credentials vault', () => {
  const credentialsVault = 'https://kv-sn-prov.vault.azure.net/';

  it('is SERVICENOW_CREDENTIALS_VAULT_URL when set, KEY_VAULT_URL otherwise, and must be https', () => {
    expect(SETTING_NAMES).toContain('SERVICENOW_CREDENTIALS_VAULT_URL');
    expect(REQUIRED_SETTINGS).not.toContain('SERVICENOW_CREDENTIALS_VAULT_URL');
    expect(loadConfig(minimal).serviceNow.credentialsVaultUrl).toBe(minimal.KEY_VAULT_URL);
    expect(loadConfig({ ...minimal, SERVICENOW_CREDENTIALS_VAULT_URL: '  ' }).serviceNow.credentialsVaultUrl).toBe(
      minimal.KEY_VAULT_URL,
    );
    const c = loadConfig({ ...minimal, SERVICENOW_CREDENTIALS_VAULT_URL: credentialsVault });
    expect(c.serviceNow.credentialsVaultUrl).toBe(credentialsVault);
    expect(c.keyVault.url).toBe(minimal.KEY_VAULT_URL);
    expect(problemsOf({ ...minimal, SERVICENOW_CREDENTIALS_VAULT_URL: 'http://kv-sn.vault.azure.net' })).toEqual([
      { name: 'SERVICENOW_CREDENTIALS_VAULT_URL', reason: 'must be an absolute https URL' },
    ]);
  });

  it('gets its own secret client, which the ServiceNow auth reads the admin credentials from', () => {
    const spy = jest.spyOn(serviceNowAuth, 'createServiceNowAuth');
    try {
      const deps = createDeps(
        loadConfig({ ...minimal, SERVICENOW_AUTH_MODE: 'basic', SERVICENOW_CREDENTIALS_VAULT_URL: credentialsVault }),
      );
      expect(deps.secrets.vaultUrl).toBe(minimal.KEY_VAULT_URL);
      expect(deps.serviceNowSecrets.vaultUrl).toBe(credentialsVault);
      expect(deps.serviceNowSecrets).not.toBe(deps.secrets);
      deps.serviceNow('contoso');
      expect(spy).toHaveBeenCalledTimes(1);
      expect(spy.mock.calls[0]?.[1]).toBe('contoso');
      const secrets = spy.mock.calls[0]?.[2];
      expect(typeof secrets === 'function' ? secrets() : secrets).toBe(deps.serviceNowSecrets);
    } finally {
      spy.mockRestore();
    }
  });

  it('shares the one secret client when both settings name the same vault (the sandbox)', () => {
    const deps = createDeps(loadConfig(minimal));
    expect(deps.serviceNowSecrets).toBe(deps.secrets);
  });
});
