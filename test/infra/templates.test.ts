/**
 * Offline checks of the deployment templates. Each rule runs on the real files (must hold) and on mutated
 * copies (must fail), so a check that silently stopped seeing anything would be caught. No Bicep compiler or Azure is
 * reachable here: docs/deploy.md lists what `bicep build` and `what-if` must show where they are.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import * as config from '../../src/config';
import { TRIGGERS } from '../../src/functions/triggers';
import { listBicepFiles, parseBicep, withoutResource } from './bicep';
import {
  agreementRule,
  API,
  APPROVER_GROUP_GRAPH_ROLES,
  approverGroupsGraphRule,
  apiVersionRule,
  AUTH,
  AZURE_YAML,
  azdConventionsRule,
  DASHBOARD_AUTH_DOC_PHRASES,
  dashboardAuthRule,
  BICEPCONFIG,
  DEPLOY_DOC,
  EVENTS,
  functionAppRule,
  GRAPH,
  HARDENING_FLAGS,
  hardeningRule,
  KEY_VAULT_ROLES,
  KEYVAULT,
  keyVaultEventsRule,
  loadTemplates,
  MAIL_SEND_DOC_PHRASES,
  MAIL_SEND_ENV,
  mailSendRule,
  MAIN,
  MONITORING,
  NEAR_EXPIRY_ENV,
  NEAR_EXPIRY_EVENT,
  NETWORK,
  noSecretsRule,
  PARAMETERS,
  PRIVATE_ENV,
  privateNetworkingRule,
  RBAC,
  REQUIRED_AZURE_ROLES,
  REQUIRED_TABLES,
  rolesRule,
  settingsRule,
  STORAGE,
  stringWhen,
  syntaxRule,
  tablesRule,
  type Templates,
  vaultSeparationRule,
} from './rules';

const repoRoot = path.resolve(__dirname, '../..');
const real = loadTemplates(repoRoot);

/** Settings only the sandbox or a developer sets; src/config.ts marks them and they must NOT be deployed. */
const SANDBOX_ONLY: readonly string[] = config.SANDBOX_ONLY_SETTINGS;
const SETTING_NAMES: readonly string[] = config.SETTING_NAMES;
const DEPLOYED_SETTINGS = SETTING_NAMES.filter((n) => !SANDBOX_ONLY.includes(n));

/** A copy of the templates with `from` replaced by `to` in `file`; throws if nothing changed (a dead mutation). */
function mutate(t: Templates, file: string, from: string | RegExp, to: string): Templates {
  const before = t[file];
  if (before === undefined) throw new Error(`${file} is not loaded`);
  const after = before.replace(from, to);
  if (after === before) throw new Error(`mutation of ${file} did not apply: ${String(from)}`);
  return { ...t, [file]: after };
}

const removeResource = (t: Templates, file: string, symbol: string): Templates => ({
  ...t,
  [file]: withoutResource(parseBicep(t[file], file), symbol),
});

/** Removes the `NAME: value` line of a setting in the app settings objects. */
const dropSetting = (t: Templates, name: string) => mutate(t, API, new RegExp(`^\\s*${name}:.*\\n`, 'm'), '');

const expectProblem = (problems: string[], pattern: RegExp) => {
  expect(problems.some((p) => pattern.test(p))).toBe(true);
};

describe('templates on disk', () => {
  it('hold main.bicep, every module, bicepconfig, parameters, azure.yaml and docs/deploy.md', () => {
    const files = listBicepFiles(repoRoot, 'infra');
    expect(files).toEqual(
      expect.arrayContaining([MAIN, API, RBAC, GRAPH, STORAGE, KEYVAULT, MONITORING, EVENTS, NETWORK]),
    );
    for (const f of [BICEPCONFIG, PARAMETERS, AZURE_YAML, DEPLOY_DOC]) expect(real[f]).toBeDefined();
  });
});

describe('syntaxRule', () => {
  it('every .bicep parses with tree-sitter-bicep without ERROR or MISSING nodes', () => {
    expect(syntaxRule(real)).toEqual([]);
  });

  it('reports a broken file with its position', () => {
    const broken = mutate(
      real,
      RBAC,
      /principalType: 'ServicePrincipal'\n {2}\}\n\}/,
      "principalType: 'ServicePrincipal'\n",
    );
    expectProblem(syntaxRule(broken), /^infra\/app\/rbac\.bicep:\d+:\d+ /);
  });

  it('reports a stray token', () => {
    const broken = mutate(real, STORAGE, "kind: 'StorageV2'", "kind: 'StorageV2' +");
    expectProblem(syntaxRule(broken), /^infra\/app\/storage\.bicep:\d+:\d+/);
  });

  it('requires the Graph extension alias to be configured in bicepconfig.json', () => {
    const noConfig = mutate(real, BICEPCONFIG, '"microsoftGraphV1"', '"somethingElse"');
    expectProblem(syntaxRule(noConfig), /extension 'microsoftGraphV1' is not configured/);
    const wrongRef = mutate(real, BICEPCONFIG, 'microsoftgraph/v1.0', 'microsoftgraph/beta');
    expectProblem(syntaxRule(wrongRef), /Microsoft Graph v1\.0 extension/);
  });

  it('does not let a malformed extension statement through', () => {
    const broken = mutate(real, GRAPH, 'extension microsoftGraphV1', 'extension microsoftGraphV1 with');
    expectProblem(syntaxRule(broken), /graph-permissions\.bicep:\d+:\d+/);
  });
});

describe('apiVersionRule', () => {
  it('every resource type and apiVersion is on the allow-list', () => {
    expect(apiVersionRule(real)).toEqual([]);
  });

  it('rejects an unlisted apiVersion and an unlisted type', () => {
    expectProblem(
      apiVersionRule(
        mutate(real, KEYVAULT, 'Microsoft.KeyVault/vaults@2023-07-01', 'Microsoft.KeyVault/vaults@2016-10-01'),
      ),
      /Microsoft\.KeyVault\/vaults@2016-10-01/,
    );
    expectProblem(
      apiVersionRule(
        mutate(real, KEYVAULT, 'Microsoft.KeyVault/vaults@2023-07-01', 'Microsoft.KeyVault/managedHSMs@2023-07-01'),
      ),
      /managedHSMs .* not on the allow-list/,
    );
  });
});

describe('settingsRule', () => {
  it('src/config.ts exports the setting names it reads', () => {
    expect(SETTING_NAMES.length).toBeGreaterThan(0);
    expect(DEPLOYED_SETTINGS).toEqual(expect.arrayContaining(['KEY_VAULT_URL', 'MAIL_SENDER', 'TASKHUB_NAME']));
  });

  it('every sandbox-only name is still a setting the code reads (no stale allow-list entries)', () => {
    for (const name of SANDBOX_ONLY) expect(SETTING_NAMES).toContain(name);
  });

  it('every setting src/config.ts reads (except sandbox-only ones) is set on the Function App', () => {
    expect(settingsRule(real, DEPLOYED_SETTINGS, SANDBOX_ONLY)).toEqual([]);
  });

  it.each(DEPLOYED_SETTINGS)('fails when %s is dropped from the app settings', (name) => {
    const problems = settingsRule(dropSetting(real, name), DEPLOYED_SETTINGS, SANDBOX_ONLY);
    expect(problems).toContain(`${API}: app setting ${name} is not set`);
  });

  it('fails for a setting the code reads but the templates do not know', () => {
    expectProblem(
      settingsRule(real, [...DEPLOYED_SETTINGS, 'NOT_DEPLOYED_SETTING'], SANDBOX_ONLY),
      /NOT_DEPLOYED_SETTING is not set/,
    );
  });

  it.each(SANDBOX_ONLY)('fails when sandbox-only %s is deployed', (name) => {
    const t = mutate(real, API, '  TASKHUB_NAME: taskHubName\n', `  TASKHUB_NAME: taskHubName\n  ${name}: 'x'\n`);
    expectProblem(settingsRule(t, DEPLOYED_SETTINGS, SANDBOX_ONLY), new RegExp(`sandbox-only setting ${name}`));
  });

  it('fails when FUNCTIONS_WORKER_RUNTIME is set (Flex Consumption keeps the runtime in functionAppConfig)', () => {
    const t = mutate(
      real,
      API,
      '  TASKHUB_NAME: taskHubName\n',
      "  TASKHUB_NAME: taskHubName\n  FUNCTIONS_WORKER_RUNTIME: 'node'\n",
    );
    expectProblem(settingsRule(t, DEPLOYED_SETTINGS, SANDBOX_ONLY), /FUNCTIONS_WORKER_RUNTIME must not be set/);
  });

  it('fails when settings come from an expression it cannot read offline', () => {
    const t = mutate(
      real,
      API,
      'union(hostSettings, productSettings)',
      'union(hostSettings, productSettings, extraSettings)',
    );
    expectProblem(settingsRule(t, DEPLOYED_SETTINGS, SANDBOX_ONLY), /'extraSettings' cannot be checked offline/);
  });
});

describe('functionAppRule', () => {
  it('Flex Consumption, Node 22, user-assigned identity, identity-based storage, azd-service-name', () => {
    expect(functionAppRule(real)).toEqual([]);
  });

  it.each([
    ['runtime version', "version: '22'", "version: '20'", /runtime version must be 22/],
    ['plan sku', "name: 'FC1'", "name: 'Y1'", /Flex Consumption/],
    ['identity type', "type: 'UserAssigned'", "type: 'SystemAssigned'", /identity type must be UserAssigned/],
    [
      'credential',
      "AzureWebJobsStorage__credential: 'managedidentity'",
      "AzureWebJobsStorage__credential: 'connectionstring'",
      /__credential/,
    ],
    ['table URI', /^\s*AzureWebJobsStorage__tableServiceUri:.*\n/m, '', /tableServiceUri/],
    ['queue URI', /^\s*AzureWebJobsStorage__queueServiceUri:.*\n/m, '', /queueServiceUri/],
    ['client id', /^\s*AzureWebJobsStorage__clientId:.*\n/m, '', /AzureWebJobsStorage__clientId/],
    ['service tag', "'azd-service-name'", "'azd-service'", /azd-service-name tag/],
    ['AI auth', "Authorization=AAD'", "'", /APPLICATIONINSIGHTS_AUTHENTICATION_STRING/],
    ['deployment auth', "type: 'UserAssignedIdentity'", "type: 'StorageAccountConnectionString'", /deployment storage/],
  ] as Array<[string, string | RegExp, string, RegExp]>)('fails when the %s is wrong', (_label, from, to, expected) => {
    expectProblem(functionAppRule(mutate(real, API, from, to)), expected);
  });
});

describe('rolesRule', () => {
  it('the identity holds every Azure role and Graph app role the code needs', () => {
    expect(rolesRule(real)).toEqual([]);
  });

  const symbols: Record<string, string> = {
    'Storage Blob Data Owner': 'identityBlobDataOwner',
    'Storage Queue Data Contributor': 'identityQueueDataContributor',
    'Storage Table Data Contributor': 'identityTableDataContributor',
    'Key Vault Secrets Officer': 'identitySecretsOfficer',
    'Key Vault Secrets User': 'identityCredentialsReader',
    'Key Vault Certificates Officer': 'identityCertificatesOfficer',
    'Key Vault Crypto User': 'identityCryptoUser',
    'Monitoring Metrics Publisher': 'identityMetricsPublisher',
  };
  it.each(REQUIRED_AZURE_ROLES.map((r) => r.role))('fails when the %s assignment is removed', (role) => {
    const problems = rolesRule(removeResource(real, RBAC, symbols[role]));
    expectProblem(problems, new RegExp(`${role} .* is not assigned`));
  });

  it('fails when a role is assigned on the wrong scope or to another principal', () => {
    const t = mutate(
      real,
      RBAC,
      /(name: guid\(storage\.id, identityPrincipalId, '0a9a7e1f[^\n]*\n\s*)scope: storage/,
      '$1scope: vault',
    );
    expectProblem(rolesRule(t), /Storage Table Data Contributor/);
    const other = mutate(
      real,
      RBAC,
      /('974c5e8b-45b9-4653-ba55-5f855dd0fb88'\n\s*\)\n\s*)principalId: identityPrincipalId/,
      '$1principalId: deployerPrincipalId',
    );
    expectProblem(rolesRule(other), /Storage Queue Data Contributor/);
  });

  it('fails when the deployer gets Secrets Officer unconditionally', () => {
    const t = mutate(real, RBAC, /= if \(grantDeployerSecretsOfficer && !empty\(deployerPrincipalId\)\) \{/, '= {');
    expectProblem(rolesRule(t), /deployerSecretsOfficer.*grantDeployerSecretsOfficer/);
  });

  it.each(['Application.ReadWrite.OwnedBy', 'Mail.Send'])('fails when Graph role %s is no longer granted', (role) => {
    const t = mutate(real, GRAPH, new RegExp(`'${role.replace(/\./g, '\\.')}'`), "'User.Read.All'");
    expectProblem(rolesRule(t), new RegExp(`Graph app role ${role.replace(/\./g, '\\.')} is not granted`));
  });

  it('fails when the Graph assignment resource is removed or the modules get another principal', () => {
    expectProblem(rolesRule(removeResource(real, GRAPH, 'appRoleAssignments')), /appRoleAssignedTo/);
    const t = mutate(
      real,
      MAIN,
      /(module graphPermissions[\s\S]*?)identityPrincipalId: identity\.outputs\.principalId/,
      '$1identityPrincipalId: principalId',
    );
    expectProblem(rolesRule(t), /graph-permissions\.bicep must get identityPrincipalId/);
  });
});

describe('hardeningRule', () => {
  it('Key Vault, storage and monitoring hardening flags are set', () => {
    expect(hardeningRule(real)).toEqual([]);
  });

  it.each(HARDENING_FLAGS.map((f) => [f.path, f] as const))('fails when %s is changed', (_p, flag) => {
    const key = flag.path.split('.').pop()!;
    const to = typeof flag.expected === 'boolean' ? String(!flag.expected) : "'TLS1_0'";
    const t = mutate(real, flag.file, new RegExp(`(\\b${key}: )[^\\n]+`), `$1${to}`);
    expectProblem(hardeningRule(t), new RegExp(`${flag.path.replace(/\./g, '\\.')} must be`));
  });

  it.each(HARDENING_FLAGS.map((f) => [f.path, f] as const))('fails when %s is missing', (_p, flag) => {
    const key = flag.path.split('.').pop()!;
    const t = mutate(real, flag.file, new RegExp(`^\\s*${key}: [^\\n]+\\n`, 'm'), '');
    expectProblem(hardeningRule(t), new RegExp(`${flag.path.replace(/\./g, '\\.')} must be`));
  });

  it('fails when access policies are added to the RBAC vault', () => {
    const t = mutate(
      real,
      KEYVAULT,
      'enableRbacAuthorization: true',
      'enableRbacAuthorization: true\n    accessPolicies: []',
    );
    expectProblem(hardeningRule(t), /access policies/);
  });
});

describe('noSecretsRule', () => {
  it('no output or setting carries a secret', () => {
    expect(noSecretsRule(real)).toEqual([]);
  });

  it('fails on listKeys() in a setting', () => {
    const t = mutate(
      real,
      API,
      '  TASKHUB_NAME: taskHubName\n',
      '  TASKHUB_NAME: taskHubName\n  STORAGE_KEY_X: storage.listKeys().keys[0].value\n',
    );
    expectProblem(noSecretsRule(t), /listKeys\(\) reads keys/);
  });

  it('fails on a key-based connection string', () => {
    const t = mutate(
      real,
      API,
      "AzureWebJobsStorage__credential: 'managedidentity'",
      "AzureWebJobsStorage__credential: 'DefaultEndpointsProtocol=https;AccountKey=x'",
    );
    expectProblem(noSecretsRule(t), /key-based connection string/);
  });

  it('fails on a secret-looking setting, a @secure parameter in a setting, and secret outputs', () => {
    const named = mutate(
      real,
      API,
      '  TASKHUB_NAME: taskHubName\n',
      "  TASKHUB_NAME: taskHubName\n  SERVICENOW_PASSWORD: 'x'\n",
    );
    expectProblem(noSecretsRule(named), /app setting SERVICENOW_PASSWORD looks like a secret/);
    const secureParam = mutate(real, API, 'param taskHubName string', '@secure()\nparam taskHubName string');
    expectProblem(noSecretsRule(secureParam), /app setting TASKHUB_NAME carries a @secure parameter/);
    const output = mutate(
      real,
      MAIN,
      'output AZURE_LOCATION string = location',
      '@secure()\noutput AZURE_LOCATION string = location',
    );
    expectProblem(noSecretsRule(output), /output AZURE_LOCATION is @secure/);
    const namedOutput = mutate(real, MAIN, 'output AZURE_LOCATION string', 'output AZURE_CLIENT_SECRET string');
    expectProblem(noSecretsRule(namedOutput), /output AZURE_CLIENT_SECRET looks like a secret/);
  });
});

describe('azdConventionsRule', () => {
  it('main.bicep follows the azd template conventions', () => {
    expect(azdConventionsRule(real)).toEqual([]);
  });

  it.each([
    ['targetScope', "targetScope = 'subscription'", "targetScope = 'resourceGroup'", /targetScope/],
    [
      'resourceToken',
      'uniqueString(subscription().id, environmentName, location)',
      'uniqueString(environmentName)',
      /resourceToken/,
    ],
    ['azd-env-name tag', "'azd-env-name': environmentName", "'env': environmentName", /azd-env-name/],
    ['abbreviation', '${abbrs.keyVaultVaults}${resourceToken}', 'kv${resourceToken}', /name 'keyVault'/],
    ['abbreviation key', '${abbrs.keyVaultVaults}', '${abbrs.keyVaultz}', /abbreviation 'keyVaultz'/],
    [
      'token in a name',
      '${abbrs.storageStorageAccounts}${resourceToken}',
      '${abbrs.storageStorageAccounts}mystorage',
      /storageAccount/,
    ],
    ['module name source', 'name: names.keyVault', "name: 'kv-fixed'", /module keyVault param name/],
    ['output case', 'output SERVICE_API_URI', 'output serviceApiUri', /not UPPER_SNAKE/],
    ['location metadata', "@metadata({\n  azd: {\n    type: 'location'\n  }\n})\n", '', /location needs @metadata/],
  ] as Array<[string, string | RegExp, string, RegExp]>)('fails when the %s is wrong', (_l, from, to, expected) => {
    expectProblem(azdConventionsRule(mutate(real, MAIN, from, to)), expected);
  });

  it('fails when a module resource has no tags', () => {
    const t = mutate(real, KEYVAULT, /^\s*tags: tags\n/m, '');
    expectProblem(azdConventionsRule(t), /keyvault\.bicep: resource vault has no tags/);
  });
});

describe('agreementRule', () => {
  it('azure.yaml, main.parameters.json and docs/deploy.md agree with main.bicep', () => {
    expect(agreementRule(real)).toEqual([]);
  });

  it('fails for a parameter main.bicep does not declare, and for a required one without value', () => {
    expectProblem(agreementRule(mutate(real, PARAMETERS, '"mailSender"', '"mailFrom"')), /mailFrom is not declared/);
    expectProblem(
      agreementRule(mutate(real, PARAMETERS, '"mailSender"', '"mailFrom"')),
      /required parameter mailSender/,
    );
  });

  it('fails when azure.yaml does not describe the api service as a TypeScript function', () => {
    expectProblem(agreementRule(mutate(real, AZURE_YAML, 'host: function', 'host: appservice')), /services\.api\.host/);
    expectProblem(agreementRule(mutate(real, AZURE_YAML, 'language: ts', 'language: js')), /services\.api\.language/);
    expectProblem(agreementRule(mutate(real, AZURE_YAML, /^ {2}api:/m, '  web:')), /services\.api is missing/);
  });

  it('fails when docs/deploy.md omits a parameter variable or the offline-verification commands', () => {
    expectProblem(agreementRule(mutate(real, DEPLOY_DOC, /MAIL_SENDER/g, 'SENDER')), /does not mention MAIL_SENDER/);
    expectProblem(agreementRule(mutate(real, DEPLOY_DOC, /az deployment sub what-if/g, 'what if')), /what-if/);
    expectProblem(agreementRule(mutate(real, DEPLOY_DOC, /bicep build/g, 'compile')), /bicep build/);
  });
});

describe('keyVaultEventsRule', () => {
  const fn: keyof typeof TRIGGERS = 'secretNearExpiry';
  expect(TRIGGERS[fn].kind).toBe('eventGrid');

  it('the vault publishes SecretNearExpiry through a system topic to the secretNearExpiry function, behind a switch', () => {
    expect(fn).toBe('secretNearExpiry');
    expect(keyVaultEventsRule(real, fn)).toEqual([]);
  });

  it('fails when the event subscription is removed', () => {
    expectProblem(
      keyVaultEventsRule(removeResource(real, EVENTS, 'nearExpirySubscription'), fn),
      /expected one event subscription on the system topic, found 0/,
    );
  });

  it("fails when the system topic is removed (and with it the subscription's parent)", () => {
    const t = removeResource(real, EVENTS, 'systemTopic');
    expectProblem(keyVaultEventsRule(t, fn), /no Microsoft\.EventGrid\/systemTopics resource/);
  });

  it('fails when SecretNearExpiry is not in includedEventTypes, or another type is added', () => {
    const replaced = mutate(real, EVENTS, `'${NEAR_EXPIRY_EVENT}'`, "'Microsoft.KeyVault.SecretExpired'");
    const problems = keyVaultEventsRule(replaced, fn);
    expectProblem(problems, /includedEventTypes must include Microsoft\.KeyVault\.SecretNearExpiry/);
    expectProblem(problems, /event type Microsoft\.KeyVault\.SecretExpired is not handled/);
    const dropped = mutate(real, EVENTS, /^\s*'Microsoft\.KeyVault\.SecretNearExpiry'\n/m, '');
    expectProblem(keyVaultEventsRule(dropped, fn), /includedEventTypes must include/);
    const extra = mutate(
      real,
      EVENTS,
      `'${NEAR_EXPIRY_EVENT}'`,
      `'${NEAR_EXPIRY_EVENT}'\n        'Microsoft.KeyVault.SecretNewVersionCreated'`,
    );
    expectProblem(keyVaultEventsRule(extra, fn), /SecretNewVersionCreated is not handled/);
  });

  it('fails when CertificateNearExpiry (certificate credentials) is not in includedEventTypes', () => {
    const dropped = mutate(real, EVENTS, /^\s*'Microsoft\.KeyVault\.CertificateNearExpiry'\n/m, '');
    expectProblem(
      keyVaultEventsRule(dropped, fn),
      /includedEventTypes must include Microsoft\.KeyVault\.CertificateNearExpiry/,
    );
  });

  it.each([
    [
      'topic type',
      "topicType: 'Microsoft.KeyVault.vaults'",
      "topicType: 'Microsoft.Storage.StorageAccounts'",
      /topicType/,
    ],
    ['topic source', 'source: vault.id', 'source: functionApp.id', /source must be the id of the existing vault/],
    [
      'endpoint type',
      "endpointType: 'AzureFunction'",
      "endpointType: 'WebHook'",
      /endpointType must be 'AzureFunction'/,
    ],
    [
      'function resource id',
      "resourceId: '${functionApp.id}/functions/${functionName}'",
      "resourceId: '${functionApp.id}/functions/rotationSweep'",
      /destination resourceId/,
    ],
    [
      'function name',
      "param functionName string = 'secretNearExpiry'",
      "param functionName string = 'nearExpiry'",
      /functionName must default/,
    ],
    [
      'delivery schema',
      "eventDeliverySchema: 'EventGridSchema'",
      "eventDeliverySchema: 'CloudEventSchemaV1_0'",
      /eventDeliverySchema/,
    ],
    ['switch', '= if (enableSubscription) {', '= {', /must depend on enableSubscription/],
    [
      'switch default',
      'param enableSubscription bool = false',
      'param enableSubscription bool = true',
      /default to false/,
    ],
    ['parent', 'parent: systemTopic', 'parent: vault', /parent must be the system topic/],
  ] as Array<[string, string | RegExp, string, RegExp]>)('fails when the %s is wrong', (_l, from, to, expected) => {
    expectProblem(keyVaultEventsRule(mutate(real, EVENTS, from, to), fn), expected);
  });

  it('fails when main.bicep does not wire the module to the vault, the deployed app and the switch', () => {
    const cases: Array<[string | RegExp, string, RegExp]> = [
      [/^module keyVaultEvents[\s\S]*?\n\}\n/m, '', /module app\/keyvault-events\.bicep is missing/],
      [
        'functionAppName: api.outputs.name',
        'functionAppName: names.functionApp',
        /functionAppName from the api module/,
      ],
      [
        'keyVaultName: keyVault.outputs.name\n    functionAppName',
        'keyVaultName: names.keyVault\n    functionAppName',
        /keyVaultName/,
      ],
      ['enableSubscription: enableSecretNearExpiryEvents', 'enableSubscription: true', /enableSubscription from param/],
      [
        'param enableSecretNearExpiryEvents bool = false',
        'param enableSecretNearExpiryEvents bool = true',
        /default to false/,
      ],
    ];
    for (const [from, to, expected] of cases)
      expectProblem(keyVaultEventsRule(mutate(real, MAIN, from, to), fn), expected);
  });

  it('fails when the registered function name differs from the template', () => {
    expectProblem(keyVaultEventsRule(real, 'renamedFunction'), /functionName must default to 'renamedFunction'/);
  });

  it('fails when main.parameters.json or docs/deploy.md lose the switch', () => {
    const params = mutate(real, PARAMETERS, `\${${NEAR_EXPIRY_ENV}=false}`, `\${${NEAR_EXPIRY_ENV}=true}`);
    expectProblem(keyVaultEventsRule(params, fn), /main\.parameters\.json: enableSecretNearExpiryEvents must be/);
    const doc = mutate(real, DEPLOY_DOC, new RegExp(NEAR_EXPIRY_ENV, 'g'), 'THE_SWITCH');
    expectProblem(keyVaultEventsRule(doc, fn), new RegExp(`does not mention '${NEAR_EXPIRY_ENV}'`));
  });
});

describe('vaultSeparationRule', () => {
  const { secretsOfficer, secretsUser } = KEY_VAULT_ROLES;

  it('the identity only reads the ServiceNow credentials vault and is Secrets Officer only on the client secrets vault', () => {
    expect(vaultSeparationRule(real)).toEqual([]);
  });

  it('fails when the identity gets Secrets Officer instead of Secrets User on the credentials vault', () => {
    const t = mutate(real, RBAC, new RegExp(secretsUser, 'g'), secretsOfficer);
    const problems = vaultSeparationRule(t);
    expectProblem(problems, /'identityCredentialsReader' gives the identity role b86a8fe4.* on the credentials vault/);
    expectProblem(problems, /must be Key Vault Secrets User on the credentials vault/);
  });

  it('fails when the identity also gets Secrets Officer on the credentials vault', () => {
    const t = mutate(
      real,
      RBAC,
      /name: guid\(vault\.id, identityPrincipalId, '(b86a8fe4[^']*)'\)\n(\s*)scope: vault/,
      "name: guid(credentialsVault.id, identityPrincipalId, '$1')\n$2scope: credentialsVault",
    );
    const problems = vaultSeparationRule(t);
    expectProblem(problems, /'identitySecretsOfficer' gives the identity role b86a8fe4.* on the credentials vault/);
    expectProblem(problems, /must be Key Vault Secrets Officer on the client secrets vault/);
  });

  it('fails when the identity gets Certificates Officer or Crypto User on the credentials vault instead', () => {
    for (const [symbol, role, name] of [
      ['identityCertificatesOfficer', KEY_VAULT_ROLES.certificatesOfficer, 'Certificates Officer'],
      ['identityCryptoUser', KEY_VAULT_ROLES.cryptoUser, 'Crypto User'],
    ]) {
      const t = mutate(
        real,
        RBAC,
        new RegExp(`name: guid\\(vault\\.id, identityPrincipalId, '(${role})'\\)\n(\\s*)scope: vault`),
        "name: guid(credentialsVault.id, identityPrincipalId, '$1')\n$2scope: credentialsVault",
      );
      const problems = vaultSeparationRule(t);
      expectProblem(
        problems,
        new RegExp(`'${symbol}' gives the identity role ${role.slice(0, 8)}.* on the credentials vault`),
      );
      expectProblem(problems, new RegExp(`must be Key Vault ${name} on the client secrets vault`));
    }
  });

  it('fails when the identity gets a broader Key Vault role than it needs (Crypto Officer instead of Crypto User)', () => {
    const cryptoOfficer = '14b46e9e-c2b7-41b4-b07b-48a6ebf60603';
    const t = mutate(real, RBAC, new RegExp(KEY_VAULT_ROLES.cryptoUser, 'g'), cryptoOfficer);
    const problems = vaultSeparationRule(t);
    expectProblem(
      problems,
      /'identityCryptoUser' gives the identity role 14b46e9e.* on the client secrets vault; only/,
    );
    expectProblem(problems, /must be Key Vault Crypto User on the client secrets vault/);
  });

  it('fails when the Secrets User assignment on the credentials vault is removed', () => {
    expectProblem(
      vaultSeparationRule(removeResource(real, RBAC, 'identityCredentialsReader')),
      /must be Key Vault Secrets User on the credentials vault/,
    );
  });

  it('fails when the deployer gets Secrets Officer on the client secrets vault', () => {
    const t = mutate(
      real,
      RBAC,
      /name: guid\(credentialsVault\.id, deployerPrincipalId, ('b86a8fe4[^']*')\)\n(\s*)scope: credentialsVault/,
      'name: guid(vault.id, deployerPrincipalId, $1)\n$2scope: vault',
    );
    expectProblem(
      vaultSeparationRule(t),
      /'deployerSecretsOfficer' gives deployerPrincipalId Key Vault Secrets Officer on 'vault'/,
    );
  });

  it('fails when an assignment is not named after its scope', () => {
    const t = mutate(
      real,
      RBAC,
      `guid(credentialsVault.id, identityPrincipalId, '${secretsUser}')`,
      `guid(vault.id, identityPrincipalId, '${secretsUser}')`,
    );
    expectProblem(vaultSeparationRule(t), /'identityCredentialsReader' must be named guid\(credentialsVault\.id/);
  });

  it('fails when main.bicep deploys one vault, or both under one name', () => {
    const oneName = mutate(real, MAIN, 'name: names.serviceNowCredentialsVault', 'name: names.keyVault');
    expectProblem(vaultSeparationRule(oneName), /two vaults must have different names/);
    const removed = mutate(real, MAIN, /^module credentialsVault [\s\S]*?\n\}\n/m, '');
    expectProblem(vaultSeparationRule(removed), /expected app\/keyvault\.bicep twice/);
    const conditional = mutate(
      real,
      MAIN,
      "module credentialsVault 'app/keyvault.bicep' = {",
      "module credentialsVault 'app/keyvault.bicep' = if (privateNetworking) {",
    );
    expectProblem(vaultSeparationRule(conditional), /module credentialsVault must not be conditional/);
  });

  it.each([
    [
      'rbac credentials vault',
      'credentialsVaultName: credentialsVault.outputs.name\n    applicationInsightsName',
      'credentialsVaultName: keyVault.outputs.name\n    applicationInsightsName',
      /rbac must get credentialsVaultName/,
    ],
    [
      'api credentials vault URL',
      'serviceNowCredentialsVaultUrl: credentialsVault.outputs.uri',
      'serviceNowCredentialsVaultUrl: keyVault.outputs.uri',
      /api must get serviceNowCredentialsVaultUrl/,
    ],
    [
      'api secrets vault URL',
      'keyVaultUrl: keyVault.outputs.uri',
      'keyVaultUrl: credentialsVault.outputs.uri',
      /keyVaultUrl/,
    ],
  ] as Array<[string, string, string, RegExp]>)('fails when main.bicep miswires the %s', (_l, from, to, expected) => {
    expectProblem(vaultSeparationRule(mutate(real, MAIN, from, to)), expected);
  });

  it('fails when the app setting of the credentials vault points at the client secrets vault', () => {
    const t = mutate(
      real,
      API,
      'SERVICENOW_CREDENTIALS_VAULT_URL: serviceNowCredentialsVaultUrl',
      'SERVICENOW_CREDENTIALS_VAULT_URL: keyVaultUrl',
    );
    expectProblem(
      vaultSeparationRule(t),
      /SERVICENOW_CREDENTIALS_VAULT_URL must be param serviceNowCredentialsVaultUrl/,
    );
  });
});

describe('mailSendRule', () => {
  it('Graph Mail.Send is granted in Entra only when asked for, and the docs explain the scoped alternative', () => {
    expect(mailSendRule(real)).toEqual([]);
  });

  it.each([
    [
      MAIN,
      'param grantEntraMailSend bool = false',
      'param grantEntraMailSend bool = true',
      /main\.bicep: param grantEntraMailSend must exist and default to false/,
    ],
    [
      GRAPH,
      'param grantEntraMailSend bool = false',
      'param grantEntraMailSend bool = true',
      /graph-permissions\.bicep: param grantEntraMailSend must/,
    ],
    [
      PARAMETERS,
      `\${${MAIL_SEND_ENV}=false}`,
      `\${${MAIL_SEND_ENV}=true}`,
      /main\.parameters\.json: grantEntraMailSend must be/,
    ],
    [
      MAIN,
      'grantEntraMailSend: grantEntraMailSend',
      'grantEntraMailSend: true',
      /graph-permissions must get grantEntraMailSend/,
    ],
  ] as Array<[string, string, string, RegExp]>)(
    'fails when %s turns the grant on by default',
    (file, from, to, expected) => {
      expectProblem(mailSendRule(mutate(real, file, from, to)), expected);
    },
  );

  it('fails when Mail.Send is in the default role list or outside the switch', () => {
    const inDefault = mutate(
      real,
      GRAPH,
      "  'Application.ReadWrite.OwnedBy'\n]",
      "  'Application.ReadWrite.OwnedBy'\n  'Mail.Send'\n]",
    );
    expectProblem(mailSendRule(inDefault), /'Mail\.Send' must only be granted behind grantEntraMailSend/);
    const swapped = mutate(
      real,
      GRAPH,
      "grantEntraMailSend ? union(appRoles, ['Mail.Send']) : appRoles",
      "grantEntraMailSend ? appRoles : union(appRoles, ['Mail.Send'])",
    );
    expectProblem(mailSendRule(swapped), /'Mail\.Send' must only be granted behind/);
    const negated = mutate(real, GRAPH, 'var roles = grantEntraMailSend ?', 'var roles = !grantEntraMailSend ?');
    expectProblem(mailSendRule(negated), /'Mail\.Send' must only be granted behind/);
  });

  it.each(MAIL_SEND_DOC_PHRASES)('fails when docs/deploy.md no longer mentions %s', (phrase) => {
    const t = mutate(real, DEPLOY_DOC, new RegExp(phrase.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'g'), 'X');
    expectProblem(mailSendRule(t), new RegExp(`does not mention '${phrase.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}'`));
  });
});

describe('privateNetworkingRule', () => {
  it('private mode closes public access and adds endpoints, DNS zones and the delegated app subnet', () => {
    expect(privateNetworkingRule(real)).toEqual([]);
  });

  it('reads the value a property takes for either state of the switch', () => {
    const p = parseBicep("var a = privateNetworking ? 'Disabled' : 'Enabled'\nvar b = other ? 'x' : 'y'\n");
    const [a, b] = p.root.namedChildren.map((n) => n.namedChildren[n.namedChildren.length - 1]);
    expect(stringWhen(a, 'privateNetworking', true)).toBe('Disabled');
    expect(stringWhen(a, 'privateNetworking', false)).toBe('Enabled');
    expect(stringWhen(b, 'privateNetworking', true)).toBeUndefined();
  });

  it.each([
    [
      MAIN,
      'param privateNetworking bool = false',
      'param privateNetworking bool = true',
      /main\.bicep: param privateNetworking must exist and default to false/,
    ],
    [PARAMETERS, `\${${PRIVATE_ENV}=false}`, `\${${PRIVATE_ENV}=true}`, /privateNetworking must be/],
    [
      KEYVAULT,
      "publicNetworkAccess: privateNetworking ? 'Disabled' : 'Enabled'",
      "publicNetworkAccess: 'Enabled'",
      /keyvault\.bicep: publicNetworkAccess must be 'Disabled'/,
    ],
    [
      KEYVAULT,
      "defaultAction: privateNetworking ? 'Deny' : 'Allow'",
      "defaultAction: 'Allow'",
      /keyvault\.bicep: networkAcls\.defaultAction must be 'Deny'/,
    ],
    [
      STORAGE,
      "publicNetworkAccess: privateNetworking ? 'Disabled' : 'Enabled'",
      "publicNetworkAccess: privateNetworking ? 'Enabled' : 'Disabled'",
      /storage\.bicep: publicNetworkAccess must be 'Disabled'/,
    ],
    [
      STORAGE,
      "defaultAction: privateNetworking ? 'Deny' : 'Allow'",
      "defaultAction: 'Allow'",
      /storage\.bicep: networkAcls\.defaultAction/,
    ],
    [
      STORAGE,
      'param privateNetworking bool = false',
      'param privateNetworking bool = true',
      /storage\.bicep: param privateNetworking must/,
    ],
    [
      MAIN,
      /(module credentialsVault [\s\S]*?)\n\s*privateNetworking: privateNetworking/,
      '$1',
      /module credentialsVault must get privateNetworking/,
    ],
    [
      MAIN,
      "module network 'app/network.bicep' = if (privateNetworking) {",
      "module network 'app/network.bicep' = {",
      /module network must be deployed if \(privateNetworking\) only/,
    ],
    [
      MAIN,
      'credentialsVaultName: credentialsVault.outputs.name\n    storageAccountName',
      'credentialsVaultName: keyVault.outputs.name\n    storageAccountName',
      /network must get credentialsVaultName/,
    ],
    [
      MAIN,
      "virtualNetworkSubnetId: network.?outputs.appSubnetId ?? ''",
      "virtualNetworkSubnetId: ''",
      /api must get virtualNetworkSubnetId/,
    ],
    [API, /^\s*virtualNetworkSubnetId: !empty.*\n/m, '', /the site must set properties\.virtualNetworkSubnetId/],
    [
      NETWORK,
      "serviceName: 'Microsoft.App/environments'",
      "serviceName: 'Microsoft.Web/serverFarms'",
      /no subnet delegated to Microsoft\.App\/environments/,
    ],
    [
      NETWORK,
      "groupIds: [\n            'blob'",
      "groupIds: [\n            'file'",
      /no private endpoint \(blob endpoint for storageAccountName\)/,
    ],
    [
      NETWORK,
      'privateLinkServiceId: credentialsVault.id',
      'privateLinkServiceId: vault.id',
      /vault endpoint for credentialsVaultName/,
    ],
    [
      NETWORK,
      "'privatelink.queue.",
      "'privatelink.queues.",
      /queue endpoint for storageAccountName must register in a 'privatelink\.queue\.…'/,
    ],
    [
      NETWORK,
      'privateDnsZoneId: tableZone.id',
      'privateDnsZoneId: blobZone.id',
      /table endpoint for storageAccountName must register/,
    ],
    [
      NETWORK,
      /(resource blobZone[\s\S]*?virtualNetwork: \{\n\s*id: )vnet\.id/,
      '$1storage.id',
      /blobZone must be linked to the virtual network/,
    ],
    [
      NETWORK,
      "output appSubnetId string = '${vnet.id}/subnets/${appSubnetName}'",
      'output appSubnetId string = privateEndpointSubnetId',
      /output appSubnetId must be the delegated subnet/,
    ],
  ] as Array<[string, string | RegExp, string, RegExp]>)(
    'fails when %s is mutated (%s)',
    (file, from, to, expected) => {
      expectProblem(privateNetworkingRule(mutate(real, file, from, to)), expected);
    },
  );

  it.each([
    ['vaultEndpoint', /vault endpoint for keyVaultName/],
    ['credentialsVaultEndpoint', /vault endpoint for credentialsVaultName/],
    ['blobEndpoint', /blob endpoint for storageAccountName/],
    ['queueEndpoint', /queue endpoint for storageAccountName/],
    ['tableEndpoint', /table endpoint for storageAccountName/],
  ] as Array<[string, RegExp]>)('fails when the private endpoint %s is removed', (symbol, expected) => {
    expectProblem(privateNetworkingRule(removeResource(real, NETWORK, symbol)), expected);
  });

  it('fails when a DNS zone group or a zone link is removed', () => {
    // The first nested 'dns' is the client secrets vault endpoint's; the first 'link' is the Key Vault zone's.
    expectProblem(
      privateNetworkingRule(removeResource(real, NETWORK, 'dns')),
      /vault endpoint for keyVaultName has no private DNS zone group/,
    );
    expectProblem(
      privateNetworkingRule(removeResource(real, NETWORK, 'link')),
      /keyVaultZone must be linked to the virtual network/,
    );
  });

  it('fails when docs/deploy.md no longer explains the switch', () => {
    const t = mutate(real, DEPLOY_DOC, new RegExp(PRIVATE_ENV, 'g'), 'PRIVATE_MODE');
    expectProblem(privateNetworkingRule(t), /does not mention 'PRIVATE_NETWORKING'/);
  });
});

describe('tablesRule', () => {
  it('storage.bicep creates every table the code opens', () => {
    expect(tablesRule(real)).toEqual([]);
  });

  it('REQUIRED_TABLES are the tables src/app/deps.ts opens', () => {
    const deps = fs.readFileSync(path.join(repoRoot, 'src/app/deps.ts'), 'utf8');
    const opened = [...deps.matchAll(/\btable\('([a-z][a-z0-9]*)'\)/gi)].map((m) => m[1]);
    expect([...opened].sort()).toEqual([...REQUIRED_TABLES].sort());
  });

  it.each(REQUIRED_TABLES)('fails when table %s is no longer created', (name) => {
    const t = mutate(real, STORAGE, new RegExp(`^\\s*'${name}'\\n`, 'm'), '');
    expect(tablesRule(t)).toContain(`${STORAGE}: table '${name}' is not created`);
  });

  it('fails when the table resource is removed or made conditional', () => {
    const removed = removeResource(real, STORAGE, 'tables');
    for (const name of REQUIRED_TABLES)
      expect(tablesRule(removed)).toContain(`${STORAGE}: table '${name}' is not created`);
    const conditional = mutate(
      real,
      STORAGE,
      /resource tables 'tables' = \[\n(\s*)for table in tableNames: \{/,
      "resource tables 'tables' = [\n$1for table in tableNames: if (privateNetworking) {",
    );
    expectProblem(tablesRule(conditional), /table resource tables must not be conditional/);
  });

  it('fails when main.bicep replaces the list of tables', () => {
    const t = mutate(
      real,
      MAIN,
      /(module storage 'app\/storage\.bicep'[\s\S]*?)privateNetworking: privateNetworking/,
      "$1privateNetworking: privateNetworking\n    tableNames: ['integrations']",
    );
    expectProblem(tablesRule(t), /module storage must not override tableNames/);
  });
});

describe('approverGroupsGraphRule', () => {
  it('GroupMember.Read.All and User.ReadBasic.All are granted only when approver groups are configured', () => {
    expect(approverGroupsGraphRule(real)).toEqual([]);
  });

  it.each(APPROVER_GROUP_GRAPH_ROLES)('fails when %s is no longer granted', (role) => {
    const t = mutate(real, GRAPH, `'${role}'`, "'Directory.Read.All'");
    expectProblem(approverGroupsGraphRule(t), new RegExp(`${role.replace(/\./g, '\\.')} is not granted`));
  });

  it('fails when the roles are granted unconditionally, under another condition, or in the default list', () => {
    const always = mutate(real, GRAPH, '!empty(approverGroups) ? ', 'true ? ');
    expectProblem(approverGroupsGraphRule(always), /'GroupMember\.Read\.All' must only be granted behind !empty/);
    const swapped = mutate(
      real,
      GRAPH,
      "!empty(approverGroups) ? ['GroupMember.Read.All', 'User.ReadBasic.All'] : []",
      "!empty(approverGroups) ? [] : ['GroupMember.Read.All', 'User.ReadBasic.All']",
    );
    expectProblem(approverGroupsGraphRule(swapped), /'User\.ReadBasic\.All' must only be granted behind/);
    const inDefault = mutate(
      real,
      GRAPH,
      "  'Application.ReadWrite.OwnedBy'\n]",
      "  'Application.ReadWrite.OwnedBy'\n  'GroupMember.Read.All'\n]",
    );
    expectProblem(approverGroupsGraphRule(inDefault), /'GroupMember\.Read\.All' must only be granted behind/);
  });

  it('fails when the assignment loop leaves the approver-group roles out', () => {
    const t = mutate(real, GRAPH, 'for role in assignedRoles:', 'for role in roles:');
    expectProblem(approverGroupsGraphRule(t), /GroupMember\.Read\.All is not granted for approver groups/);
  });

  it.each([
    [GRAPH, "param approverGroups string = ''", "param approverGroups string = 'x'", /must exist and default to ''/],
    [
      MAIN,
      /(module graphPermissions[\s\S]*?)approverGroups: approverGroups/,
      "$1approverGroups: ''",
      /graph-permissions must get approverGroups/,
    ],
    [
      MAIN,
      /(module api [\s\S]*?)approverGroups: approverGroups/,
      "$1approverGroups: ''",
      /api must get approverGroups/,
    ],
    [DEPLOY_DOC, /User\.ReadBasic\.All/g, 'User.Read', /does not mention 'User\.ReadBasic\.All'/],
  ] as Array<[string, string | RegExp, string, RegExp]>)(
    'fails when %s is mutated (%s)',
    (file, from, to, expected) => {
      expectProblem(approverGroupsGraphRule(mutate(real, file, from, to)), expected);
    },
  );
});

describe('dashboardAuthRule', () => {
  it('Easy Auth with Entra fronts the dashboard: operator group only, no client secret, API and links stay reachable', () => {
    expect(dashboardAuthRule(real)).toEqual([]);
  });

  it('the dashboard is the one trigger that relies on it, and keeps its function key', () => {
    expect(TRIGGERS.dashboard).toEqual({
      kind: 'http',
      route: 'dashboard/{*path}',
      methods: ['GET'],
      authLevel: 'function',
    });
  });

  it('fails when sign-in is required everywhere (the API and the approval links would break)', () => {
    const t = mutate(real, AUTH, /^(\s*)requireAuthentication: false/m, '$1requireAuthentication: true');
    expectProblem(dashboardAuthRule(t), /requireAuthentication must be false/);
    const redirect = mutate(real, AUTH, "'AllowAnonymous'", "'RedirectToLoginPage'");
    expectProblem(dashboardAuthRule(redirect), /unauthenticatedClientAction must be 'AllowAnonymous'/);
  });

  it('fails when the operator group no longer restricts who signs in', () => {
    const none = mutate(real, AUTH, /allowedPrincipals: \{[^]*?\n {12}\}\n/, '');
    expectProblem(dashboardAuthRule(none), /allowedPrincipals\.groups must be exactly \[operatorGroupObjectId\]/);
    const other = mutate(
      real,
      AUTH,
      /groups: \[\s*operatorGroupObjectId\s*\]/,
      "groups: [\n'00000000-0000-0000-0000-000000000000'\n]",
    );
    expectProblem(dashboardAuthRule(other), /allowedPrincipals\.groups/);
  });

  it('fails with a client secret setting instead of the federated credential, or a certificate', () => {
    const secret = mutate(
      real,
      AUTH,
      "clientSecretSettingName: 'OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID'",
      "clientSecretSettingName: 'MICROSOFT_PROVIDER_AUTHENTICATION_SECRET'",
    );
    expectProblem(dashboardAuthRule(secret), /clientSecretSettingName must be OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID/);
    const cert = mutate(
      real,
      AUTH,
      'clientId: clientId\n',
      "clientId: clientId\n          clientSecretCertificateThumbprint: 'AB12'\n",
    );
    expectProblem(dashboardAuthRule(cert), /no certificate/);
  });

  it('fails when the issuer is not the tenant v2.0 one, or HTTPS or the provider is off', () => {
    expectProblem(dashboardAuthRule(mutate(real, AUTH, '${tenantId}/v2.0', 'common/v2.0')), /openIdIssuer/);
    expectProblem(dashboardAuthRule(mutate(real, AUTH, 'requireHttps: true', 'requireHttps: false')), /requireHttps/);
    expectProblem(
      dashboardAuthRule(mutate(real, AUTH, /(azureActiveDirectory: \{\s*)enabled: true/, '$1enabled: false')),
      /provider must be enabled/,
    );
  });

  it('fails when EASY_AUTH_ENABLED does not follow the sign-in, so the header would be trusted or sign-in not enforced', () => {
    const always = mutate(
      real,
      API,
      "EASY_AUTH_ENABLED: !empty(authIdentityClientId) ? 'true' : 'false'",
      "EASY_AUTH_ENABLED: 'true'",
    );
    expectProblem(dashboardAuthRule(always), /EASY_AUTH_ENABLED must be 'true' exactly when/);
    const never = mutate(
      real,
      API,
      "EASY_AUTH_ENABLED: !empty(authIdentityClientId) ? 'true' : 'false'",
      "EASY_AUTH_ENABLED: 'false'",
    );
    expectProblem(dashboardAuthRule(never), /EASY_AUTH_ENABLED/);
    const fic = mutate(
      real,
      API,
      'OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID: authIdentityClientId',
      'OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID: identityClientId',
    );
    expectProblem(dashboardAuthRule(fic), /OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID must be the auth identity/);
  });

  it('fails when main.bicep deploys the sign-in under another condition, or without the group', () => {
    const always = mutate(
      real,
      MAIN,
      "module dashboardAuth 'app/auth.bicep' = if (dashboardSignIn) {",
      "module dashboardAuth 'app/auth.bicep' = {",
    );
    expectProblem(dashboardAuthRule(always), /auth\.bicep must be deployed if \(dashboardSignIn\)/);
    const noGroup = mutate(
      real,
      MAIN,
      'var dashboardSignIn = !empty(dashboardAuthClientId) && !empty(operatorGroupObjectId)',
      'var dashboardSignIn = !empty(dashboardAuthClientId)',
    );
    expectProblem(dashboardAuthRule(noGroup), /must need both dashboardAuthClientId and operatorGroupObjectId/);
    const sharedIdentity = mutate(
      real,
      MAIN,
      "authIdentityClientId: authIdentity.?outputs.clientId ?? ''",
      'authIdentityClientId: identity.outputs.clientId',
    );
    expectProblem(dashboardAuthRule(sharedIdentity), /api must get authIdentityClientId from the auth identity module/);
    const unassigned = mutate(real, API, "empty(authIdentityId) ? {} : { '${authIdentityId}': {} }", '{}');
    expectProblem(dashboardAuthRule(unassigned), /auth identity must be assigned/);
  });

  it.each(DASHBOARD_AUTH_DOC_PHRASES)('fails when docs/deploy.md no longer mentions %s', (phrase) => {
    const t = { ...real, [DEPLOY_DOC]: real[DEPLOY_DOC].split(phrase).join('(removed)') };
    expectProblem(dashboardAuthRule(t), new RegExp(`does not mention '${phrase.replace(/[/.]/g, '\\$&')}'`));
  });
});
