/**
 * Application settings: every setting is read once, validated with zod, and reported all at once in a `ConfigError`
 * (name + reason for each problem). Endpoints come from settings with production defaults, so sovereign clouds and
 * the sandbox work without code changes.
 */
import * as z from 'zod';

import { ConfigError } from './lib/errors';
import { isNcrontab } from './rotation/schedule';

export { ConfigError } from './lib/errors';

/** Every setting the app reads; the infrastructure (Bicep app settings) must provide the required ones. */
export const SETTING_NAMES = [
  'ENTRA_AUTHORITY_HOST',
  'GRAPH_BASE_URL',
  'KEY_VAULT_URL',
  'KEY_VAULT_CHALLENGE_RESOURCE_VERIFICATION',
  'SERVICENOW_URL_TEMPLATE',
  'SERVICENOW_AUTH_MODE',
  // Token auth (SERVICENOW_AUTH_MODE=entra): the application ID URI of the control-plane audience app
  // (api://<client id>) the app's identity gets tokens for, and that identity's object id (the `oid` claim, the
  // ServiceNow machine user's user_name). docs/deploy.md, "Connect an instance".
  'SERVICENOW_TOKEN_AUDIENCE',
  'SERVICENOW_IDENTITY_OBJECT_ID',
  'SERVICENOW_CREDENTIAL_SECRET_PREFIX',
  // The vault holding the ServiceNow admin credentials (read-only for the app); defaults to KEY_VAULT_URL.
  'SERVICENOW_CREDENTIALS_VAULT_URL',
  'MAIL_SENDER',
  'PUBLIC_BASE_URL',
  'AZURE_TENANT_ID',
  'AZURE_CLIENT_ID',
  'AZURE_CLIENT_SECRET',
  'TASKHUB_NAME',
  // Azure Table Storage for the integration registry and approval tokens: the Functions host's own storage. In
  // Azure, identity-based (`AzureWebJobsStorage__tableServiceUri` + the managed identity); locally a connection
  // string in `AzureWebJobsStorage` (Azurite).
  'AzureWebJobsStorage__tableServiceUri',
  'AzureWebJobsStorage',
  // Provisioning: the approval gate and the connectivity checks.
  // Tenants other than AZURE_TENANT_ID that integrations may be provisioned for (comma-separated tenant ids).
  'ALLOWED_TENANTS',
  'APPROVAL_TIMEOUT_MINUTES',
  'APPROVAL_REMINDER_MINUTES',
  'APPROVAL_DEADLINE_ACTION',
  'CHECK_ATTEMPTS',
  'CHECK_RETRY_SECONDS',
  'CERTIFICATE_VALIDITY_MONTHS',
  // Whether this app's identity grants the application permissions a profile declares (admin consent through app
  // role assignments, after the approval; needs AppRoleAssignment.ReadWrite.All), or an administrator does.
  'GRANT_ADMIN_CONSENT',
  // Who may approve go-live: addresses and Entra groups (members resolved through Graph), and how many must approve.
  // Never taken from the request: a request may only narrow this set.
  'APPROVERS',
  'APPROVER_GROUPS',
  'APPROVAL_QUORUM',
  // Rotation: the sweep's schedule and what is due, the new secret's lifetime, the grace period before the
  // old secret is removed, the hand-off reminders and deadline, and proving the new secret yields a token.
  'ROTATION_SCHEDULE',
  'ROTATION_WINDOW_DAYS',
  'ROTATION_MAX_AGE_DAYS',
  'ROTATION_SECRET_LIFETIME_DAYS',
  'ROTATION_GRACE_MINUTES',
  'HANDOFF_REMINDER_MINUTES',
  'HANDOFF_DEADLINE_MINUTES',
  'ROTATION_VERIFY_ATTEMPTS',
  'ROTATION_VERIFY_RETRY_SECONDS',
  // The daily health and drift check's schedule (read-only; repairs only on request).
  'HEALTH_SCHEDULE',
  // Deadline of one outbound call (connect + response) per service: a call that does not answer in time fails with a
  // retriable `Timeout` error, so a durable retry takes over instead of a stalled orchestration.
  'ENTRA_TIMEOUT_SECONDS',
  'GRAPH_TIMEOUT_SECONDS',
  'KEY_VAULT_TIMEOUT_SECONDS',
  'SERVICENOW_TIMEOUT_SECONDS',
  // Whether App Service Authentication (Easy Auth) fronts the app: only then is the signed-in operator's name taken
  // from the X-MS-CLIENT-PRINCIPAL-NAME header on the dashboard (anyone can send that header to an app without it).
  'EASY_AUTH_ENABLED',
  // Alerts (src/alerts/): the sweep's schedule, the expiry stages of credentials a person must rotate, when an approval
  // or a hand-off is overdue, and the channels: email (recipients, default the integration's approvers) and a webhook
  // whose URL is a Key Vault secret (the setting names the secret), in the Teams Workflows or generic JSON format.
  'ALERT_SCHEDULE',
  'ALERT_EXPIRY_STAGES_DAYS',
  'ALERT_OVERDUE_MINUTES',
  'ALERT_CHANNELS',
  'ALERT_EMAIL_RECIPIENTS',
  'ALERT_WEBHOOK_SECRET_NAME',
  'ALERT_WEBHOOK_FORMAT',
] as const;

export type SettingName = (typeof SETTING_NAMES)[number];

/**
 * Settings only the sandbox and local development set; the deployment must not (a secret or a test-only switch).
 * infra tests check that Bicep sets every other setting and none of these.
 */
export const SANDBOX_ONLY_SETTINGS: readonly SettingName[] = [
  'AZURE_CLIENT_SECRET',
  'KEY_VAULT_CHALLENGE_RESOURCE_VERIFICATION',
  'AzureWebJobsStorage',
];

/** Settings without which the app cannot start. */
export const REQUIRED_SETTINGS: readonly SettingName[] = [
  'KEY_VAULT_URL',
  'MAIL_SENDER',
  'PUBLIC_BASE_URL',
  'AZURE_TENANT_ID',
  'TASKHUB_NAME',
];

export const DEFAULTS = {
  ENTRA_AUTHORITY_HOST: 'https://login.microsoftonline.com',
  GRAPH_BASE_URL: 'https://graph.microsoft.com',
  SERVICENOW_URL_TEMPLATE: 'https://{instance}.service-now.com',
  SERVICENOW_AUTH_MODE: 'entra',
  SERVICENOW_CREDENTIAL_SECRET_PREFIX: 'servicenow-',
  KEY_VAULT_CHALLENGE_RESOURCE_VERIFICATION: 'true',
  APPROVAL_TIMEOUT_MINUTES: '4320',
  APPROVAL_REMINDER_MINUTES: '1440',
  APPROVAL_DEADLINE_ACTION: 'rollback',
  CHECK_ATTEMPTS: '6',
  CHECK_RETRY_SECONDS: '10',
  CERTIFICATE_VALIDITY_MONTHS: '12',
  GRANT_ADMIN_CONSENT: 'false',
  APPROVAL_QUORUM: '1',
  // Daily at 02:00 UTC (NCRONTAB with seconds).
  ROTATION_SCHEDULE: '0 0 2 * * *',
  ROTATION_WINDOW_DAYS: '30',
  ROTATION_MAX_AGE_DAYS: '365',
  ROTATION_SECRET_LIFETIME_DAYS: '180',
  ROTATION_GRACE_MINUTES: '1440',
  HANDOFF_REMINDER_MINUTES: '1440',
  HANDOFF_DEADLINE_MINUTES: '10080',
  ROTATION_VERIFY_ATTEMPTS: '6',
  ROTATION_VERIFY_RETRY_SECONDS: '10',
  // Daily at 03:30 UTC (after the rotation sweep, so a check sees the day's rotations started).
  HEALTH_SCHEDULE: '0 30 3 * * *',
  ENTRA_TIMEOUT_SECONDS: '30',
  GRAPH_TIMEOUT_SECONDS: '60',
  KEY_VAULT_TIMEOUT_SECONDS: '30',
  SERVICENOW_TIMEOUT_SECONDS: '60',
  EASY_AUTH_ENABLED: 'false',
  // Hourly, on the hour (NCRONTAB with seconds).
  ALERT_SCHEDULE: '0 0 * * * *',
  ALERT_EXPIRY_STAGES_DAYS: '30,14,7,1',
  ALERT_OVERDUE_MINUTES: '1440',
  ALERT_CHANNELS: 'email',
  ALERT_WEBHOOK_FORMAT: 'teams',
} as const satisfies Partial<Record<SettingName, string>>;

/**
 * How the app authenticates to ServiceNow: `entra` (default) sends an Entra access token of its own identity for the
 * control-plane audience, which the instance trusts through an OIDC provider configuration and entity (no ServiceNow
 * credential anywhere); `basic` and `oauth` read ServiceNow credentials from Key Vault (explicit fallbacks).
 */
export type ServiceNowAuthMode = 'entra' | 'basic' | 'oauth';

export interface AppConfig {
  /** The tenant our identity lives in, and where tokens are requested. */
  tenantId: string;
  /** Tenant ids integrations may be provisioned for: the home tenant plus ALLOWED_TENANTS (lower-case). */
  allowedTenants: string[];
  identity: {
    /** User-assigned managed identity client id, or the app id when `clientSecret` is set. */
    clientId?: string;
    /** Only the sandbox/dev sets it: then a ClientSecretCredential is used. */
    clientSecret?: string;
  };
  entra: {
    /** `https://login.microsoftonline.com` or a sovereign/sandbox authority, without trailing slash. */
    authorityHost: string;
    /** Deadline of one token or metadata request (ENTRA_TIMEOUT_SECONDS), in milliseconds. */
    timeoutMs: number;
  };
  graph: {
    /** Without trailing slash, without version. */
    baseUrl: string;
    /** `${baseUrl}/.default`. */
    scope: string;
    /** Hostname (no port) for graph-client `customHosts`. */
    customHost: string;
    /** Deadline of one Graph request (GRAPH_TIMEOUT_SECONDS), in milliseconds. */
    timeoutMs: number;
  };
  keyVault: {
    url: string;
    /** Hostname of the vault. */
    host: string;
    /** False only where the vault is not under vault.azure.net (sandbox on 127.0.0.1). */
    challengeResourceVerification: boolean;
    /** Deadline of one Key Vault request (KEY_VAULT_TIMEOUT_SECONDS), in milliseconds. */
    timeoutMs: number;
  };
  serviceNow: {
    /** Contains `{instance}`. */
    urlTemplate: string;
    authMode: ServiceNowAuthMode;
    /**
     * SERVICENOW_TOKEN_AUDIENCE (required in `entra` mode): the app ID URI `api://<client id>`, the token scope
     * `<uri>/.default`, and the client id: the `aud` of the v2 tokens the audience app issues
     * (https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference) and so the OIDC entity's
     * client id.
     */
    token?: { audience: string; scope: string; clientId: string };
    /** SERVICENOW_IDENTITY_OBJECT_ID: the object id (`oid`) of the app's identity, the machine user's user_name. */
    identityObjectId?: string;
    credentialSecretPrefix: string;
    /**
     * Vault of the admin credentials (`<prefix><instance>-username` etc.). In Azure a separate vault the identity may
     * only read (Key Vault Secrets User); defaults to `keyVault.url` (one vault, as in the sandbox).
     */
    credentialsVaultUrl: string;
    /** Deadline of one ServiceNow request (SERVICENOW_TIMEOUT_SECONDS), in milliseconds. */
    timeoutMs: number;
  };
  mail: {
    /** Mailbox (UPN) that sends approval mail. */
    sender: string;
  };
  /** Public https base URL of our HTTP functions (approval links), without trailing slash. */
  publicBaseUrl: string;
  taskHubName: string;
  /** Table Storage: a service URL used with the identity, or a connection string (Azurite). */
  tables: { serviceUrl: string } | { connectionString: string };
  provisioning: {
    approvalTimeoutMinutes: number;
    reminderIntervalMinutes: number;
    /** At the approval deadline: roll back everything, or keep it and mark the integration expired. */
    onDeadline: 'rollback' | 'keep';
    /** GRANT_ADMIN_CONSENT: the app's identity grants a profile's application permissions after the approval. */
    grantAdminConsent: boolean;
    checkAttempts: number;
    checkRetrySeconds: number;
    /** CERTIFICATE_VALIDITY_MONTHS: lifetime of the certificates created for certificate credentials. */
    certificateValidityMonths: number;
  };
  /** The approver policy: configured addresses (lower-cased) and Entra group object ids, and the approvals needed. */
  approvals: {
    approvers: string[];
    groups: string[];
    quorum: number;
  };
  // --- Rotation settings go here. ---
  rotation: {
    /** NCRONTAB (six fields) of the sweep; the timer reads the setting itself as `%ROTATION_SCHEDULE%`. */
    schedule: string;
    /** A credential expiring within this many days is due. */
    windowDays: number;
    /** A credential older than this many days is due even when far from expiry. */
    maxAgeDays: number;
    /** Lifetime of the new client secret. */
    secretLifetimeDays: number;
    /** Both secrets stay valid this long after every consumer confirmed, before the old one is removed. */
    graceMinutes: number;
    handoffReminderMinutes: number;
    handoffDeadlineMinutes: number;
    verifyAttempts: number;
    verifyRetrySeconds: number;
  };
  /** The operator dashboard: EASY_AUTH_ENABLED, whether App Service Authentication fronts the app. */
  dashboard: { easyAuth: boolean };
  alerts: {
    /** NCRONTAB (six fields) of the alert sweep; the timer reads the setting itself as `%ALERT_SCHEDULE%`. */
    schedule: string;
    /** Days before expiry at which a credential a person must rotate is alerted, largest first (each stage once). */
    expiryStagesDays: number[];
    /** An approval round or a rotation hand-off waiting longer than this is overdue. */
    overdueMinutes: number;
    /** Where alerts go; empty = nowhere (ALERT_CHANNELS=none). */
    channels: AlertChannel[];
    /** Email recipients (lower-cased); empty = the integration's approvers. */
    emailRecipients: string[];
    /** The Key Vault secret (in KEY_VAULT_URL's vault) holding the webhook URL, and the payload format. */
    webhook?: { secretName: string; format: 'teams' | 'json' };
  };
  health: {
    /** NCRONTAB (six fields) of the daily check; the timer reads the setting itself as `%HEALTH_SCHEDULE%`. */
    schedule: string;
  };
}

export type AlertChannel = 'email' | 'webhook';

const trimSlash = (s: string) => s.replace(/\/+$/, '');
const blankToUndefined = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);

/** An absolute https URL (zod 4 `z.url` with a protocol constraint). */
const httpsUrl = () =>
  z
    .string()
    .trim()
    .pipe(z.url({ protocol: /^https$/, error: 'must be an absolute https URL' }));

const optional = <T extends z.ZodType>(schema: T) => z.preprocess(blankToUndefined, schema.optional());
const withDefault = <T extends z.ZodType<unknown, string>>(schema: T, def: string) =>
  z.preprocess((v) => blankToUndefined(v) ?? def, schema);
/** Missing or blank → an invalid_type issue on undefined input, reported as "is required" by loadConfig. */
const required = <T extends z.ZodType>(schema: T) => z.preprocess(blankToUndefined, schema);

/** `a, b; c` → ['a', 'b', 'c'] (blank entries dropped). */
const splitList = (v: string): string[] =>
  v
    .split(/[,;]/)
    .map((x) => x.trim())
    .filter((x) => x !== '');

/** A whole number within [min, max], given as a string. */
const intIn = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, `must be a whole number from ${min} to ${max}`)
    .transform(Number)
    .refine((n) => n >= min && n <= max, `must be a whole number from ${min} to ${max}`);

const schema = z.object({
  ENTRA_AUTHORITY_HOST: withDefault(httpsUrl(), DEFAULTS.ENTRA_AUTHORITY_HOST),
  GRAPH_BASE_URL: withDefault(httpsUrl(), DEFAULTS.GRAPH_BASE_URL),
  KEY_VAULT_URL: required(httpsUrl()),
  KEY_VAULT_CHALLENGE_RESOURCE_VERIFICATION: withDefault(
    z
      .string()
      .trim()
      .toLowerCase()
      .pipe(z.enum(['true', 'false'], { error: 'must be true or false' })),
    DEFAULTS.KEY_VAULT_CHALLENGE_RESOURCE_VERIFICATION,
  ),
  SERVICENOW_URL_TEMPLATE: withDefault(
    z
      .string()
      .trim()
      .refine((v) => v.includes('{instance}'), 'must contain {instance}')
      .refine((v) => {
        try {
          return new URL(v.replace('{instance}', 'instance')).protocol === 'https:';
        } catch {
          return false;
        }
      }, 'must be an absolute https URL'),
    DEFAULTS.SERVICENOW_URL_TEMPLATE,
  ),
  SERVICENOW_AUTH_MODE: withDefault(
    z.enum(['entra', 'basic', 'oauth'], { error: 'must be entra, basic or oauth' }),
    DEFAULTS.SERVICENOW_AUTH_MODE,
  ),
  // The default app ID URI form, api://<application (client) id>
  // (https://learn.microsoft.com/entra/identity-platform/reference-app-manifest#identifieruris-attribute): the client
  // id in it is what v2 tokens carry as `aud`, so the bootstrap script can name it as the OIDC entity's client id.
  SERVICENOW_TOKEN_AUDIENCE: optional(
    z
      .string()
      .trim()
      .toLowerCase()
      .regex(
        /^api:\/\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\/?$/,
        'must be an application ID URI api://<application (client) id>',
      )
      .transform((v) => v.replace(/\/+$/, '')),
  ),
  SERVICENOW_IDENTITY_OBJECT_ID: optional(
    z
      .string()
      .trim()
      .pipe(z.guid({ error: "must be a GUID (the object id of the app identity's service principal)" })),
  ),
  SERVICENOW_CREDENTIAL_SECRET_PREFIX: withDefault(
    // Key Vault secret names: letters, digits and '-', starting with a letter
    // (https://learn.microsoft.com/azure/key-vault/general/about-keys-secrets-certificates).
    z.string().regex(/^[A-Za-z][A-Za-z0-9-]{0,80}$/, 'must start with a letter and hold only letters, digits and -'),
    DEFAULTS.SERVICENOW_CREDENTIAL_SECRET_PREFIX,
  ),
  SERVICENOW_CREDENTIALS_VAULT_URL: optional(httpsUrl()),
  MAIL_SENDER: required(
    z
      .string()
      .trim()
      .pipe(z.email({ error: 'must be a mailbox address (UPN)' })),
  ),
  // https in Azure; plain http only on loopback, as the local Functions host serves it (func start: localhost:7071).
  PUBLIC_BASE_URL: required(
    z
      .string()
      .trim()
      .refine((v) => {
        try {
          const u = new URL(v);
          return (
            u.protocol === 'https:' ||
            (u.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname))
          );
        } catch {
          return false;
        }
      }, 'must be an absolute https URL (http only on loopback)'),
  ),
  AZURE_TENANT_ID: required(
    z
      .string()
      .trim()
      .pipe(z.guid({ error: 'must be a GUID (the directory tenant id)' })),
  ),
  AZURE_CLIENT_ID: optional(
    z
      .string()
      .trim()
      .pipe(z.guid({ error: 'must be a GUID (client id)' })),
  ),
  AZURE_CLIENT_SECRET: optional(z.string()),
  // Durable task hub names: 3-45 letters and digits, starting with a letter (Microsoft Learn "Task hubs in Durable
  // Functions", Azure Storage provider rules).
  AzureWebJobsStorage__tableServiceUri: optional(httpsUrl()),
  AzureWebJobsStorage: optional(z.string().trim()),
  ALLOWED_TENANTS: optional(
    z
      .string()
      .trim()
      .transform((v) => v.split(/[,;\s]+/).filter(Boolean))
      .pipe(z.array(z.guid({ error: 'must list tenant ids (GUIDs), comma-separated' }))),
  ),
  APPROVAL_TIMEOUT_MINUTES: withDefault(intIn(5, 60 * 24 * 30), DEFAULTS.APPROVAL_TIMEOUT_MINUTES),
  APPROVAL_REMINDER_MINUTES: withDefault(intIn(5, 60 * 24 * 30), DEFAULTS.APPROVAL_REMINDER_MINUTES),
  APPROVAL_DEADLINE_ACTION: withDefault(
    z.enum(['rollback', 'keep'], { error: 'must be rollback or keep' }),
    DEFAULTS.APPROVAL_DEADLINE_ACTION,
  ),
  CHECK_ATTEMPTS: withDefault(intIn(1, 20), DEFAULTS.CHECK_ATTEMPTS),
  CHECK_RETRY_SECONDS: withDefault(intIn(1, 600), DEFAULTS.CHECK_RETRY_SECONDS),
  // Key Vault self-signed certificates: 1 to 120 months (validityInMonths of the certificate policy).
  CERTIFICATE_VALIDITY_MONTHS: withDefault(intIn(1, 120), DEFAULTS.CERTIFICATE_VALIDITY_MONTHS),
  GRANT_ADMIN_CONSENT: withDefault(
    z
      .string()
      .trim()
      .toLowerCase()
      .pipe(z.enum(['true', 'false'], { error: 'must be true or false' })),
    DEFAULTS.GRANT_ADMIN_CONSENT,
  ),
  APPROVERS: optional(
    z
      .string()
      .transform(splitList)
      .refine((l) => l.every((a) => z.email().safeParse(a).success), 'must be email addresses separated by , or ;')
      .transform((l) => [...new Set(l.map((a) => a.toLowerCase()))]),
  ),
  APPROVER_GROUPS: optional(
    z
      .string()
      .transform(splitList)
      .refine(
        (l) => l.every((g) => z.guid().safeParse(g).success),
        'must be Entra group object ids (GUIDs) separated by , or ;',
      )
      .transform((l) => [...new Set(l.map((g) => g.toLowerCase()))]),
  ),
  APPROVAL_QUORUM: withDefault(intIn(1, 10), DEFAULTS.APPROVAL_QUORUM),
  ROTATION_SCHEDULE: withDefault(
    z
      .string()
      .trim()
      .refine(
        isNcrontab,
        'must be an NCRONTAB expression with six numeric fields (second minute hour day month weekday)',
      ),
    DEFAULTS.ROTATION_SCHEDULE,
  ),
  HEALTH_SCHEDULE: withDefault(
    z
      .string()
      .trim()
      .refine(
        isNcrontab,
        'must be an NCRONTAB expression with six numeric fields (second minute hour day month weekday)',
      ),
    DEFAULTS.HEALTH_SCHEDULE,
  ),
  ROTATION_WINDOW_DAYS: withDefault(intIn(1, 365), DEFAULTS.ROTATION_WINDOW_DAYS),
  // Entra client secrets live 24 months at most (docs/reference/rotation.md#requirements; the Entra admin center offers
  // up to 24 months), so neither setting may exceed 730 days.
  ROTATION_MAX_AGE_DAYS: withDefault(intIn(1, 730), DEFAULTS.ROTATION_MAX_AGE_DAYS),
  ROTATION_SECRET_LIFETIME_DAYS: withDefault(intIn(1, 730), DEFAULTS.ROTATION_SECRET_LIFETIME_DAYS),
  ROTATION_GRACE_MINUTES: withDefault(intIn(0, 60 * 24 * 30), DEFAULTS.ROTATION_GRACE_MINUTES),
  HANDOFF_REMINDER_MINUTES: withDefault(intIn(5, 60 * 24 * 30), DEFAULTS.HANDOFF_REMINDER_MINUTES),
  HANDOFF_DEADLINE_MINUTES: withDefault(intIn(5, 60 * 24 * 60), DEFAULTS.HANDOFF_DEADLINE_MINUTES),
  ROTATION_VERIFY_ATTEMPTS: withDefault(intIn(1, 20), DEFAULTS.ROTATION_VERIFY_ATTEMPTS),
  ROTATION_VERIFY_RETRY_SECONDS: withDefault(intIn(1, 600), DEFAULTS.ROTATION_VERIFY_RETRY_SECONDS),
  ENTRA_TIMEOUT_SECONDS: withDefault(intIn(1, 300), DEFAULTS.ENTRA_TIMEOUT_SECONDS),
  GRAPH_TIMEOUT_SECONDS: withDefault(intIn(1, 300), DEFAULTS.GRAPH_TIMEOUT_SECONDS),
  KEY_VAULT_TIMEOUT_SECONDS: withDefault(intIn(1, 300), DEFAULTS.KEY_VAULT_TIMEOUT_SECONDS),
  SERVICENOW_TIMEOUT_SECONDS: withDefault(intIn(1, 300), DEFAULTS.SERVICENOW_TIMEOUT_SECONDS),
  ALERT_SCHEDULE: withDefault(
    z
      .string()
      .trim()
      .refine(
        isNcrontab,
        'must be an NCRONTAB expression with six numeric fields (second minute hour day month weekday)',
      ),
    DEFAULTS.ALERT_SCHEDULE,
  ),
  ALERT_EXPIRY_STAGES_DAYS: withDefault(
    z
      .string()
      .transform(splitList)
      .refine(
        (l) => l.length > 0 && l.every((d) => /^\d+$/.test(d) && Number(d) >= 1 && Number(d) <= 730),
        'must be whole numbers of days from 1 to 730, separated by ,',
      )
      .transform((l) => [...new Set(l.map(Number))].sort((a, b) => b - a)),
    DEFAULTS.ALERT_EXPIRY_STAGES_DAYS,
  ),
  ALERT_OVERDUE_MINUTES: withDefault(intIn(5, 60 * 24 * 60), DEFAULTS.ALERT_OVERDUE_MINUTES),
  ALERT_CHANNELS: withDefault(
    z
      .string()
      .transform((v) => splitList(v.toLowerCase()))
      .refine(
        (l) =>
          l.length > 0 && (l.every((c) => c === 'email' || c === 'webhook') || (l.length === 1 && l[0] === 'none')),
        'must be email, webhook or both separated by , (or none)',
      )
      .transform((l) => [...new Set(l.filter((c): c is AlertChannel => c !== 'none'))]),
    DEFAULTS.ALERT_CHANNELS,
  ),
  ALERT_EMAIL_RECIPIENTS: optional(
    z
      .string()
      .transform(splitList)
      .refine((l) => l.every((a) => z.email().safeParse(a).success), 'must be email addresses separated by , or ;')
      .transform((l) => [...new Set(l.map((a) => a.toLowerCase()))]),
  ),
  // A Key Vault secret name (https://learn.microsoft.com/azure/key-vault/general/about-keys-secrets-certificates).
  ALERT_WEBHOOK_SECRET_NAME: optional(
    z
      .string()
      .trim()
      .regex(/^[A-Za-z0-9-]{1,127}$/, 'must be a Key Vault secret name (1-127 letters, digits and -)'),
  ),
  ALERT_WEBHOOK_FORMAT: withDefault(
    z
      .string()
      .trim()
      .toLowerCase()
      .pipe(z.enum(['teams', 'json'], { error: 'must be teams or json' })),
    DEFAULTS.ALERT_WEBHOOK_FORMAT,
  ),
  EASY_AUTH_ENABLED: withDefault(
    z
      .string()
      .trim()
      .toLowerCase()
      .pipe(z.enum(['true', 'false'], { error: 'must be true or false' })),
    DEFAULTS.EASY_AUTH_ENABLED,
  ),
  TASKHUB_NAME: required(
    z.string().regex(/^[A-Za-z][A-Za-z0-9]{2,44}$/, 'must be 3-45 letters and digits, starting with a letter'),
  ),
});

/** Rules across settings, checked on the raw values so they are reported together with per-field problems. */
function crossFieldProblems(input: Record<string, string | undefined>): Array<{ name: string; reason: string }> {
  const present = (n: SettingName) => blankToUndefined(input[n]) !== undefined;
  const problems: Array<{ name: string; reason: string }> = [];
  if (present('AZURE_CLIENT_SECRET') && !present('AZURE_CLIENT_ID'))
    problems.push({ name: 'AZURE_CLIENT_ID', reason: 'is required when AZURE_CLIENT_SECRET is set' });
  const storage = blankToUndefined(input.AzureWebJobsStorage);
  const storageIsConnectionString =
    typeof storage === 'string' && /(^|;)\s*(AccountName|UseDevelopmentStorage)=/i.test(storage);
  if (!present('AzureWebJobsStorage__tableServiceUri') && !storageIsConnectionString)
    problems.push({
      name: 'AzureWebJobsStorage__tableServiceUri',
      reason: 'is required (or a storage connection string in AzureWebJobsStorage)',
    });
  const approvers = typeof input.APPROVERS === 'string' ? splitList(input.APPROVERS) : [];
  const groups = typeof input.APPROVER_GROUPS === 'string' ? splitList(input.APPROVER_GROUPS) : [];
  if (!approvers.length && !groups.length)
    problems.push({
      name: 'APPROVERS',
      reason: 'is required (or APPROVER_GROUPS): nobody could approve go-live',
    });
  const quorum = wholeNumber(input, 'APPROVAL_QUORUM');
  if (!groups.length && approvers.length && quorum !== undefined && quorum > new Set(approvers).size)
    problems.push({ name: 'APPROVAL_QUORUM', reason: 'must not exceed the number of APPROVERS (no APPROVER_GROUPS)' });
  const authMode = (blankToUndefined(input.SERVICENOW_AUTH_MODE) ?? DEFAULTS.SERVICENOW_AUTH_MODE) as string;
  if (authMode.trim() === 'entra' && !present('SERVICENOW_TOKEN_AUDIENCE'))
    problems.push({
      name: 'SERVICENOW_TOKEN_AUDIENCE',
      reason:
        'is required when SERVICENOW_AUTH_MODE is entra (the default): the application ID URI api://<client id> the ServiceNow instances trust',
    });
  const channels = typeof input.ALERT_CHANNELS === 'string' ? splitList(input.ALERT_CHANNELS.toLowerCase()) : [];
  if (channels.includes('webhook') && !present('ALERT_WEBHOOK_SECRET_NAME'))
    problems.push({
      name: 'ALERT_WEBHOOK_SECRET_NAME',
      reason: 'is required when ALERT_CHANNELS includes webhook (the Key Vault secret holding the webhook URL)',
    });
  return [...problems, ...rotationProblems(input)];
}

/** A whole-number setting as given, or its default; undefined when malformed (the schema reports that). */
function wholeNumber(input: Record<string, string | undefined>, name: keyof typeof DEFAULTS): number | undefined {
  const raw = blankToUndefined(input[name]) ?? DEFAULTS[name];
  return typeof raw === 'string' && /^\s*\d+\s*$/.test(raw) ? Number(raw) : undefined;
}

/**
 * Rotation settings that only make sense together: a new secret must not be due the day it is made (window <
 * lifetime, else every sweep rotates again), the old secret must outlive the hand-off and the grace period (window >
 * deadline + grace), and a reminder must come before the deadline.
 */
function rotationProblems(input: Record<string, string | undefined>): Array<{ name: string; reason: string }> {
  const window = wholeNumber(input, 'ROTATION_WINDOW_DAYS');
  const lifetime = wholeNumber(input, 'ROTATION_SECRET_LIFETIME_DAYS');
  const grace = wholeNumber(input, 'ROTATION_GRACE_MINUTES');
  const reminder = wholeNumber(input, 'HANDOFF_REMINDER_MINUTES');
  const deadline = wholeNumber(input, 'HANDOFF_DEADLINE_MINUTES');
  const problems: Array<{ name: string; reason: string }> = [];
  if (window !== undefined && lifetime !== undefined && window >= lifetime)
    problems.push({ name: 'ROTATION_WINDOW_DAYS', reason: 'must be less than ROTATION_SECRET_LIFETIME_DAYS' });
  if (window !== undefined && grace !== undefined && deadline !== undefined && window * 24 * 60 <= deadline + grace)
    problems.push({
      name: 'ROTATION_WINDOW_DAYS',
      reason: 'must be longer than HANDOFF_DEADLINE_MINUTES + ROTATION_GRACE_MINUTES',
    });
  if (reminder !== undefined && deadline !== undefined && reminder >= deadline)
    problems.push({ name: 'HANDOFF_REMINDER_MINUTES', reason: 'must be less than HANDOFF_DEADLINE_MINUTES' });
  return problems;
}

/** Validates the settings and builds the config; throws one `ConfigError` listing every problem. Pure. */
export function loadConfig(env: Record<string, string | undefined> = process.env): AppConfig {
  const input: Record<string, string | undefined> = {};
  for (const name of SETTING_NAMES) input[name] = env[name];
  const parsed = schema.safeParse(input);
  const problems = [
    ...(parsed.success
      ? []
      : parsed.error.issues.map((i) => ({
          name: String(i.path[0] ?? '(settings)'),
          // Only our fixed reasons, never the values: AZURE_CLIENT_SECRET must not land in an error message.
          reason: i.code === 'invalid_type' && i.input === undefined ? 'is required' : i.message,
        }))),
    ...crossFieldProblems(input),
  ];
  if (!parsed.success || problems.length) throw new ConfigError(problems);
  const s = parsed.data;
  const graphBaseUrl = trimSlash(s.GRAPH_BASE_URL);
  return {
    tenantId: s.AZURE_TENANT_ID.toLowerCase(),
    allowedTenants: [
      ...new Set([s.AZURE_TENANT_ID.toLowerCase(), ...(s.ALLOWED_TENANTS ?? []).map((t) => t.toLowerCase())]),
    ],
    identity: {
      ...(s.AZURE_CLIENT_ID ? { clientId: s.AZURE_CLIENT_ID } : {}),
      ...(s.AZURE_CLIENT_SECRET ? { clientSecret: s.AZURE_CLIENT_SECRET } : {}),
    },
    entra: { authorityHost: trimSlash(s.ENTRA_AUTHORITY_HOST), timeoutMs: s.ENTRA_TIMEOUT_SECONDS * 1000 },
    graph: {
      baseUrl: graphBaseUrl,
      scope: `${graphBaseUrl}/.default`,
      customHost: new URL(graphBaseUrl).hostname,
      timeoutMs: s.GRAPH_TIMEOUT_SECONDS * 1000,
    },
    keyVault: {
      url: s.KEY_VAULT_URL,
      host: new URL(s.KEY_VAULT_URL).hostname,
      challengeResourceVerification: s.KEY_VAULT_CHALLENGE_RESOURCE_VERIFICATION === 'true',
      timeoutMs: s.KEY_VAULT_TIMEOUT_SECONDS * 1000,
    },
    serviceNow: {
      urlTemplate: trimSlash(s.SERVICENOW_URL_TEMPLATE),
      authMode: s.SERVICENOW_AUTH_MODE,
      ...(s.SERVICENOW_TOKEN_AUDIENCE
        ? {
            token: {
              audience: s.SERVICENOW_TOKEN_AUDIENCE,
              scope: `${s.SERVICENOW_TOKEN_AUDIENCE}/.default`,
              clientId: s.SERVICENOW_TOKEN_AUDIENCE.slice('api://'.length),
            },
          }
        : {}),
      ...(s.SERVICENOW_IDENTITY_OBJECT_ID ? { identityObjectId: s.SERVICENOW_IDENTITY_OBJECT_ID.toLowerCase() } : {}),
      credentialSecretPrefix: s.SERVICENOW_CREDENTIAL_SECRET_PREFIX,
      credentialsVaultUrl: s.SERVICENOW_CREDENTIALS_VAULT_URL ?? s.KEY_VAULT_URL,
      timeoutMs: s.SERVICENOW_TIMEOUT_SECONDS * 1000,
    },
    mail: { sender: s.MAIL_SENDER },
    publicBaseUrl: trimSlash(s.PUBLIC_BASE_URL),
    taskHubName: s.TASKHUB_NAME,
    provisioning: {
      approvalTimeoutMinutes: s.APPROVAL_TIMEOUT_MINUTES,
      reminderIntervalMinutes: s.APPROVAL_REMINDER_MINUTES,
      onDeadline: s.APPROVAL_DEADLINE_ACTION,
      grantAdminConsent: s.GRANT_ADMIN_CONSENT === 'true',
      checkAttempts: s.CHECK_ATTEMPTS,
      checkRetrySeconds: s.CHECK_RETRY_SECONDS,
      certificateValidityMonths: s.CERTIFICATE_VALIDITY_MONTHS,
    },
    approvals: {
      approvers: s.APPROVERS ?? [],
      groups: s.APPROVER_GROUPS ?? [],
      quorum: s.APPROVAL_QUORUM,
    },
    rotation: {
      schedule: s.ROTATION_SCHEDULE,
      windowDays: s.ROTATION_WINDOW_DAYS,
      maxAgeDays: s.ROTATION_MAX_AGE_DAYS,
      secretLifetimeDays: s.ROTATION_SECRET_LIFETIME_DAYS,
      graceMinutes: s.ROTATION_GRACE_MINUTES,
      handoffReminderMinutes: s.HANDOFF_REMINDER_MINUTES,
      handoffDeadlineMinutes: s.HANDOFF_DEADLINE_MINUTES,
      verifyAttempts: s.ROTATION_VERIFY_ATTEMPTS,
      verifyRetrySeconds: s.ROTATION_VERIFY_RETRY_SECONDS,
    },
    dashboard: { easyAuth: s.EASY_AUTH_ENABLED === 'true' },
    alerts: {
      schedule: s.ALERT_SCHEDULE,
      expiryStagesDays: s.ALERT_EXPIRY_STAGES_DAYS,
      overdueMinutes: s.ALERT_OVERDUE_MINUTES,
      channels: s.ALERT_CHANNELS,
      emailRecipients: s.ALERT_EMAIL_RECIPIENTS ?? [],
      ...(s.ALERT_WEBHOOK_SECRET_NAME
        ? { webhook: { secretName: s.ALERT_WEBHOOK_SECRET_NAME, format: s.ALERT_WEBHOOK_FORMAT } }
        : {}),
    },
    health: { schedule: s.HEALTH_SCHEDULE },
    tables: s.AzureWebJobsStorage__tableServiceUri
      ? { serviceUrl: trimSlash(s.AzureWebJobsStorage__tableServiceUri) }
      : { connectionString: s.AzureWebJobsStorage! },
  };
}

let cached: AppConfig | undefined;

/** The process-wide config, loaded from `process.env` on first use. */
export function getConfig(): AppConfig {
  cached ??= loadConfig(process.env);
  return cached;
}

/** Forgets the cached config (tests). */
export function resetConfigCache(): void {
  cached = undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Derived endpoints

/**
 * ServiceNow instance names as they appear in `{instance}.service-now.com`: lowercase letters, digits and hyphens
 * (a DNS label, https://www.rfc-editor.org/rfc/rfc1123#page-13). Refusing anything else keeps the template
 * substitution from changing host or path. The one rule for instance names: the request validation
 * (src/api/integration-request.ts) and every URL and secret name built here use it.
 */
export const SERVICENOW_INSTANCE_NAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** The rule in words, for problem documents. */
export const SERVICENOW_INSTANCE_RULE =
  '1-63 lowercase letters, digits or hyphens, not starting or ending with a hyphen';

export function isValidServiceNowInstance(instance: string): boolean {
  return SERVICENOW_INSTANCE_NAME.test(instance);
}

/** `https://{instance}.service-now.com` (or the sandbox path form), without trailing slash. */
export function serviceNowInstanceUrl(config: Pick<AppConfig, 'serviceNow'>, instance: string): string {
  if (!isValidServiceNowInstance(instance))
    throw new ConfigError([{ name: 'instance', reason: 'must be a ServiceNow instance name (a-z, 0-9, -)' }]);
  return config.serviceNow.urlTemplate.replace('{instance}', instance);
}

/** Key Vault secret names holding the ServiceNow admin credentials for an instance (docs/reference/servicenow.md#authentication-and-roles). */
export function serviceNowCredentialSecretNames(
  config: Pick<AppConfig, 'serviceNow'>,
  instance: string,
): { username: string; password: string; clientId: string; clientSecret: string } {
  if (!isValidServiceNowInstance(instance))
    throw new ConfigError([{ name: 'instance', reason: 'must be a ServiceNow instance name (a-z, 0-9, -)' }]);
  const base = `${config.serviceNow.credentialSecretPrefix}${instance}`;
  return {
    username: `${base}-username`,
    password: `${base}-password`,
    clientId: `${base}-client-id`,
    clientSecret: `${base}-client-secret`,
  };
}

/** Entra endpoints for a tenant, built from ENTRA_AUTHORITY_HOST (docs/reference/microsoft.md#token-endpoints, #openid-connect-discovery). */
export function entraEndpoints(authorityHost: string, tenant: string) {
  const base = `${trimSlash(authorityHost)}/${encodeURIComponent(tenant)}`;
  return {
    tokenV1: `${base}/oauth2/token`,
    tokenV2: `${base}/oauth2/v2.0/token`,
    metadataV1: `${base}/.well-known/openid-configuration`,
    metadataV2: `${base}/v2.0/.well-known/openid-configuration`,
    jwksV2: `${base}/discovery/v2.0/keys`,
  };
}
