/**
 * Project rules for the deployment templates, each a pure function of the template texts that returns a list of
 * problems (empty = rule holds). Tests run every rule on the real files and on mutated copies (test/infra/*.test.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import {
  appSettings,
  booleanLiteral,
  callsIn,
  identifiersIn,
  listBicepFiles,
  modules,
  objectEntries,
  outputs,
  params,
  parseBicep,
  type ParsedBicep,
  propertyAt,
  resources,
  stringLiteral,
  stringsIn,
  syntaxProblems,
  type SyntaxNode,
  variables,
} from './bicep';

/** Repository-relative path → file text. Holds every infra/**\/*.bicep, infra JSON files, azure.yaml, docs/deploy.md. */
export type Templates = Record<string, string>;

export const MAIN = 'infra/main.bicep';
export const API = 'infra/app/api.bicep';
export const RBAC = 'infra/app/rbac.bicep';
export const GRAPH = 'infra/app/graph-permissions.bicep';
export const STORAGE = 'infra/app/storage.bicep';
export const KEYVAULT = 'infra/app/keyvault.bicep';
export const MONITORING = 'infra/app/monitoring.bicep';
export const EVENTS = 'infra/app/keyvault-events.bicep';
export const NETWORK = 'infra/app/network.bicep';
export const ABBREVIATIONS = 'infra/abbreviations.json';
export const PARAMETERS = 'infra/main.parameters.json';
export const BICEPCONFIG = 'infra/bicepconfig.json';
export const AZURE_YAML = 'azure.yaml';
export const DEPLOY_DOC = 'docs/deploy.md';

export function loadTemplates(repoRoot: string): Templates {
  const files = [...listBicepFiles(repoRoot, 'infra'), ABBREVIATIONS, PARAMETERS, BICEPCONFIG, AZURE_YAML, DEPLOY_DOC];
  const t: Templates = {};
  for (const f of files) {
    const full = path.join(repoRoot, f);
    if (fs.existsSync(full)) t[f] = fs.readFileSync(full, 'utf8');
  }
  return t;
}

const parsedCache = new Map<string, ParsedBicep>();
function parse(t: Templates, file: string): ParsedBicep {
  const source = t[file];
  if (source === undefined) throw new Error(`${file} is missing`);
  const key = `${file}\u0000${source}`;
  let p = parsedCache.get(key);
  if (!p) {
    p = parseBicep(source, file);
    parsedCache.set(key, p);
  }
  return p;
}

const bicepFiles = (t: Templates) => Object.keys(t).filter((f) => f.endsWith('.bicep'));

function json(t: Templates, file: string): unknown {
  const text = t[file];
  if (text === undefined) throw new Error(`${file} is missing`);
  return JSON.parse(text) as unknown;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

// ---------------------------------------------------------------------------------------------------------------
// 1. Syntax

/** Every .bicep parses without ERROR/MISSING nodes; every `extension` alias is configured in bicepconfig.json. */
export function syntaxRule(t: Templates): string[] {
  const problems: string[] = [];
  const files = bicepFiles(t);
  if (!files.includes(MAIN)) problems.push(`${MAIN} is missing`);
  let configured: Record<string, unknown> = {};
  try {
    const cfg = json(t, BICEPCONFIG);
    if (isRecord(cfg) && isRecord(cfg.extensions)) configured = cfg.extensions;
  } catch (err) {
    problems.push(`${BICEPCONFIG}: ${(err as Error).message}`);
  }
  for (const f of files) {
    const p = parse(t, f);
    problems.push(...syntaxProblems(p));
    for (const ext of p.extensions) {
      const ref = configured[ext];
      if (typeof ref !== 'string') problems.push(`${f}: extension '${ext}' is not configured in ${BICEPCONFIG}`);
      else if (
        ext === 'microsoftGraphV1' &&
        !/^br:mcr\.microsoft\.com\/bicep\/extensions\/microsoftgraph\/v1\.0:\d/.test(ref)
      )
        problems.push(`${BICEPCONFIG}: microsoftGraphV1 must point at the Microsoft Graph v1.0 extension in MCR`);
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------------------------
// 2. Resource types and apiVersions

/**
 * Allow-list of resource types and apiVersions used by the templates. Adding a type or version is a reviewed change:
 * confirm it on Learn ("Bicep resource reference", https://learn.microsoft.com/azure/templates/) or, for Graph, the
 * Microsoft Graph Bicep reference (https://learn.microsoft.com/graph/templates/bicep/reference/overview).
 */
export const ALLOWED_RESOURCE_TYPES: Readonly<Record<string, readonly string[]>> = {
  'Microsoft.Resources/resourceGroups': ['2024-03-01'],
  'Microsoft.ManagedIdentity/userAssignedIdentities': ['2023-01-31'],
  'Microsoft.Storage/storageAccounts': ['2023-05-01'],
  'Microsoft.Storage/storageAccounts/blobServices': ['2023-05-01'],
  'Microsoft.Storage/storageAccounts/blobServices/containers': ['2023-05-01'],
  'Microsoft.Storage/storageAccounts/tableServices': ['2023-05-01'],
  'Microsoft.Storage/storageAccounts/tableServices/tables': ['2023-05-01'],
  'Microsoft.KeyVault/vaults': ['2023-07-01'],
  'Microsoft.OperationalInsights/workspaces': ['2023-09-01'],
  'Microsoft.Insights/components': ['2020-02-02'],
  'Microsoft.Web/serverfarms': ['2024-04-01'],
  'Microsoft.Web/sites': ['2024-04-01'],
  'Microsoft.Web/sites/config': ['2024-04-01'],
  'Microsoft.Web/sites/basicPublishingCredentialsPolicies': ['2024-04-01'],
  'Microsoft.Authorization/roleAssignments': ['2022-04-01'],
  'Microsoft.Graph/servicePrincipals': ['v1.0'],
  // Learn "Microsoft.EventGrid systemTopics" / "systemTopics/eventSubscriptions" Bicep reference, GA 2025-02-15.
  'Microsoft.EventGrid/systemTopics': ['2025-02-15'],
  'Microsoft.EventGrid/systemTopics/eventSubscriptions': ['2025-02-15'],
  'Microsoft.Graph/appRoleAssignedTo': ['v1.0'],
  // Learn "Microsoft.Network virtualNetworks", "privateEndpoints", "privateEndpoints/privateDnsZoneGroups" (2023-11-01)
  // and "privateDnsZones", "privateDnsZones/virtualNetworkLinks" (2024-06-01) Bicep references.
  'Microsoft.Network/virtualNetworks': ['2023-11-01'],
  'Microsoft.Network/privateEndpoints': ['2023-11-01'],
  'Microsoft.Network/privateEndpoints/privateDnsZoneGroups': ['2023-11-01'],
  'Microsoft.Network/privateDnsZones': ['2024-06-01'],
  'Microsoft.Network/privateDnsZones/virtualNetworkLinks': ['2024-06-01'],
};

export function apiVersionRule(t: Templates): string[] {
  const problems: string[] = [];
  for (const f of bicepFiles(t))
    for (const r of resources(parse(t, f))) {
      const allowed = ALLOWED_RESOURCE_TYPES[r.type];
      if (!allowed) problems.push(`${f}: resource type ${r.type} (${r.symbol}) is not on the allow-list`);
      else if (!allowed.includes(r.apiVersion))
        problems.push(`${f}: ${r.type}@${r.apiVersion} (${r.symbol}) is not an allowed apiVersion`);
    }
  return problems;
}

// ---------------------------------------------------------------------------------------------------------------
// 3. App settings

/** Settings the Flex Consumption plan refuses as app settings (the runtime lives in functionAppConfig.runtime). */
export const FLEX_FORBIDDEN_SETTINGS = ['FUNCTIONS_WORKER_RUNTIME', 'FUNCTIONS_EXTENSION_VERSION'];

/**
 * Every setting the code reads (`required`) is set on the Function App; sandbox-only settings are not; nothing hides
 * settings from this check (every `union` argument must be readable offline).
 */
export function settingsRule(t: Templates, required: readonly string[], sandboxOnly: readonly string[]): string[] {
  const problems: string[] = [];
  const files = bicepFiles(t).filter((f) => appSettings(parse(t, f)).sources > 0);
  if (files.length !== 1) return [`expected exactly one file with Function App settings, found ${files.length}`];
  const file = files[0];
  const { settings, unresolved } = appSettings(parse(t, file));
  for (const u of unresolved) problems.push(`${file}: app settings expression '${u}' cannot be checked offline`);
  for (const name of required) if (!settings.has(name)) problems.push(`${file}: app setting ${name} is not set`);
  for (const name of sandboxOnly)
    if (settings.has(name)) problems.push(`${file}: sandbox-only setting ${name} must not be deployed`);
  for (const name of FLEX_FORBIDDEN_SETTINGS)
    if (settings.has(name)) problems.push(`${file}: ${name} must not be set on Flex Consumption`);
  return problems;
}

/** Identity-based host storage, Flex Consumption Node 22, user-assigned identity, azd-service-name tag. */
export function functionAppRule(t: Templates): string[] {
  const problems: string[] = [];
  const p = parse(t, API);
  const site = resources(p).find((r) => r.type === 'Microsoft.Web/sites' && !r.existing);
  const plan = resources(p).find((r) => r.type === 'Microsoft.Web/serverfarms' && !r.existing);
  if (!site?.body) return [`${API}: no Microsoft.Web/sites resource`];
  const str = (path: string) => stringLiteral(propertyAt(site.body, path));
  if (!plan?.body || stringLiteral(propertyAt(plan.body, 'sku.name')) !== 'FC1')
    problems.push(`${API}: the plan must be Flex Consumption (sku FC1)`);
  if (str('properties.functionAppConfig.runtime.name') !== 'node') problems.push(`${API}: runtime name must be node`);
  if (str('properties.functionAppConfig.runtime.version') !== '22') problems.push(`${API}: runtime version must be 22`);
  if (str('identity.type') !== 'UserAssigned') problems.push(`${API}: identity type must be UserAssigned`);
  if (str('properties.functionAppConfig.deployment.storage.authentication.type') !== 'UserAssignedIdentity')
    problems.push(`${API}: deployment storage must authenticate with the user-assigned identity`);
  if (booleanLiteral(propertyAt(site.body, 'properties.httpsOnly')) !== true)
    problems.push(`${API}: httpsOnly must be true`);
  const tags = propertyAt(site.body, 'tags');
  if (!tags || !stringsIn(tags).includes('azd-service-name')) problems.push(`${API}: azd-service-name tag missing`);

  const { settings } = appSettings(p);
  const setting = (n: string) => settings.get(n);
  if (stringLiteral(setting('AzureWebJobsStorage__credential')) !== 'managedidentity')
    problems.push(`${API}: AzureWebJobsStorage__credential must be 'managedidentity'`);
  if (settings.has('AzureWebJobsStorage') || settings.has('AzureWebJobsStorage__accountName'))
    problems.push(`${API}: use the per-service URIs, not AzureWebJobsStorage or __accountName`);
  for (const svc of ['blob', 'queue', 'table']) {
    const v = setting(`AzureWebJobsStorage__${svc}ServiceUri`);
    if (!v || !v.text.includes(`primaryEndpoints.${svc}`))
      problems.push(`${API}: AzureWebJobsStorage__${svc}ServiceUri must be the storage ${svc} endpoint`);
  }
  for (const n of ['AzureWebJobsStorage__clientId', 'AZURE_CLIENT_ID'])
    if (!setting(n) || !identifiersIn(setting(n)!).includes('identityClientId'))
      problems.push(`${API}: ${n} must be the user-assigned identity's client id`);
  const ai = setting('APPLICATIONINSIGHTS_AUTHENTICATION_STRING');
  if (!ai || !/Authorization=AAD/.test(ai.text))
    problems.push(`${API}: APPLICATIONINSIGHTS_AUTHENTICATION_STRING must select Entra (AAD) authentication`);
  return problems;
}

// ---------------------------------------------------------------------------------------------------------------
// 4. Roles

/** Azure built-in role definition ids the identity needs, and the resource symbol (in rbac.bicep) each is scoped to. */
export const REQUIRED_AZURE_ROLES = [
  { role: 'Storage Blob Data Owner', id: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b', scope: 'storage' },
  { role: 'Storage Queue Data Contributor', id: '974c5e8b-45b9-4653-ba55-5f855dd0fb88', scope: 'storage' },
  { role: 'Storage Table Data Contributor', id: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3', scope: 'storage' },
  { role: 'Key Vault Secrets Officer', id: 'b86a8fe4-4576-4b2f-8dfa-1e8b0f7f0bba', scope: 'vault' },
  { role: 'Key Vault Secrets User', id: '4633458b-17de-408a-b874-0445c86b69e6', scope: 'credentialsVault' },
  { role: 'Key Vault Certificates Officer', id: 'a4417e6f-fecd-4de8-b567-7b0420556985', scope: 'vault' },
  { role: 'Key Vault Crypto User', id: '12338af0-0e69-4776-bea7-57ae8d297424', scope: 'vault' },
  { role: 'Monitoring Metrics Publisher', id: '3913510d-42f4-4e42-8a64-420c390055eb', scope: 'applicationInsights' },
] as const;

/**
 * Microsoft Graph application permissions the code uses (Learn "Microsoft Graph permissions reference"). Mail.Send is
 * granted in Entra only behind a switch that defaults to false (mailSendRule).
 */
export const REQUIRED_GRAPH_ROLES = ['Application.ReadWrite.OwnedBy', 'Mail.Send'] as const;

export function rolesRule(t: Templates): string[] {
  const problems: string[] = [];
  const rbac = parse(t, RBAC);
  const assignments = resources(rbac).filter((r) => r.type === 'Microsoft.Authorization/roleAssignments');
  for (const need of REQUIRED_AZURE_ROLES) {
    const match = assignments.find((a) => {
      if (!a.body || a.conditional) return false;
      const roleDef = propertyAt(a.body, 'properties.roleDefinitionId');
      const principal = propertyAt(a.body, 'properties.principalId');
      const scope = propertyAt(a.body, 'scope');
      return (
        !!roleDef &&
        stringsIn(roleDef).includes(need.id) &&
        principal?.text === 'identityPrincipalId' &&
        scope?.text === need.scope
      );
    });
    if (!match) problems.push(`${RBAC}: ${need.role} (${need.id}) is not assigned to the identity on '${need.scope}'`);
  }
  // The deployer gets Secrets Officer only when asked.
  for (const a of assignments) {
    const principal = propertyAt(a.body, 'properties.principalId')?.text;
    if (principal && principal !== 'identityPrincipalId') {
      const cond = a.node.namedChildren[a.node.namedChildren.length - 1];
      if (!a.conditional || !cond || !identifiersIn(cond).includes('grantDeployerSecretsOfficer'))
        problems.push(
          `${RBAC}: role assignment '${a.symbol}' for ${principal} must depend on grantDeployerSecretsOfficer`,
        );
    }
  }

  const graph = parse(t, GRAPH);
  const graphStrings = new Set(
    [...params(graph), ...variables(graph)].flatMap((d) => (d.value ? stringsIn(d.value) : [])),
  );
  const assignedTo = resources(graph).find((r) => r.type === 'Microsoft.Graph/appRoleAssignedTo');
  if (!assignedTo?.body || propertyAt(assignedTo.body, 'principalId')?.text !== 'identityPrincipalId')
    problems.push(`${GRAPH}: no Microsoft.Graph/appRoleAssignedTo for identityPrincipalId`);
  for (const role of REQUIRED_GRAPH_ROLES)
    if (!graphStrings.has(role)) problems.push(`${GRAPH}: Graph app role ${role} is not granted`);

  const main = parse(t, MAIN);
  const mods = modules(main);
  const wiring: Array<[string, string]> = [
    ['app/rbac.bicep', 'identityPrincipalId'],
    ['app/graph-permissions.bicep', 'identityPrincipalId'],
  ];
  for (const [modPath, param] of wiring) {
    const m = mods.find((x) => x.path === modPath);
    const v = m?.body ? propertyAt(m.body, `params.${param}`)?.text : undefined;
    if (v !== 'identity.outputs.principalId')
      problems.push(`${MAIN}: module ${modPath} must get ${param} from the identity`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------------------------
// 5. Hardening

interface Flag {
  file: string;
  type: string;
  path: string;
  expected: boolean | string;
}

export const HARDENING_FLAGS: readonly Flag[] = [
  { file: KEYVAULT, type: 'Microsoft.KeyVault/vaults', path: 'properties.enableRbacAuthorization', expected: true },
  { file: KEYVAULT, type: 'Microsoft.KeyVault/vaults', path: 'properties.enableSoftDelete', expected: true },
  { file: KEYVAULT, type: 'Microsoft.KeyVault/vaults', path: 'properties.enablePurgeProtection', expected: true },
  {
    file: STORAGE,
    type: 'Microsoft.Storage/storageAccounts',
    path: 'properties.allowSharedKeyAccess',
    expected: false,
  },
  {
    file: STORAGE,
    type: 'Microsoft.Storage/storageAccounts',
    path: 'properties.allowBlobPublicAccess',
    expected: false,
  },
  {
    file: STORAGE,
    type: 'Microsoft.Storage/storageAccounts',
    path: 'properties.supportsHttpsTrafficOnly',
    expected: true,
  },
  {
    file: STORAGE,
    type: 'Microsoft.Storage/storageAccounts',
    path: 'properties.minimumTlsVersion',
    expected: 'TLS1_2',
  },
  { file: MONITORING, type: 'Microsoft.Insights/components', path: 'properties.DisableLocalAuth', expected: true },
  {
    file: MONITORING,
    type: 'Microsoft.OperationalInsights/workspaces',
    path: 'properties.features.disableLocalAuth',
    expected: true,
  },
];

export function hardeningRule(t: Templates): string[] {
  const problems: string[] = [];
  for (const flag of HARDENING_FLAGS) {
    const r = resources(parse(t, flag.file)).find((x) => x.type === flag.type && !x.existing);
    const node = r?.body ? propertyAt(r.body, flag.path) : undefined;
    const actual = typeof flag.expected === 'boolean' ? booleanLiteral(node) : stringLiteral(node);
    if (actual !== flag.expected)
      problems.push(
        `${flag.file}: ${flag.type} ${flag.path} must be ${String(flag.expected)} (found ${node?.text ?? 'nothing'})`,
      );
  }
  const vault = resources(parse(t, KEYVAULT)).find((x) => x.type === 'Microsoft.KeyVault/vaults' && !x.existing);
  if (vault?.body && propertyAt(vault.body, 'properties.accessPolicies'))
    problems.push(`${KEYVAULT}: access policies must not be used with RBAC authorization`);
  return problems;
}

// ---------------------------------------------------------------------------------------------------------------
// 6. No secrets in settings or outputs

/** ARM functions that return keys, SAS tokens or secrets. */
const SECRET_FUNCTIONS = /^(list[A-Za-z]*|getSecret)$/;
/** Names that announce a secret. */
const SECRET_NAME = /(secret|password|passwd|accountkey|access_?key|sas_?token|api_?key|instrumentationkey)$/i;
/**
 * APPLICATIONINSIGHTS_CONNECTION_STRING names a "connection string" but is not a credential: Learn ("Connection
 * strings in Application Insights") says it is not a security token or key, and with DisableLocalAuth ingestion
 * also needs an Entra token.
 */
const NOT_SECRETS = new Set(['APPLICATIONINSIGHTS_CONNECTION_STRING', 'connectionString']);

export function noSecretsRule(t: Templates): string[] {
  const problems: string[] = [];
  for (const f of bicepFiles(t)) {
    const p = parse(t, f);
    const secureParams = new Set(
      params(p)
        .filter((d) => d.decorators.includes('secure'))
        .map((d) => d.name),
    );
    for (const fn of callsIn(p.root))
      if (SECRET_FUNCTIONS.test(fn)) problems.push(`${f}: ${fn}() reads keys or secrets; use identities instead`);
    if (/AccountKey=|SharedAccessSignature=|DefaultEndpointsProtocol=/i.test(p.source))
      problems.push(`${f}: a key-based connection string appears in the template`);
    for (const o of outputs(p)) {
      if (o.decorators.includes('secure')) problems.push(`${f}: output ${o.name} is @secure (a secret output)`);
      if (SECRET_NAME.test(o.name) && !NOT_SECRETS.has(o.name))
        problems.push(`${f}: output ${o.name} looks like a secret`);
      if (o.value && identifiersIn(o.value).some((i) => secureParams.has(i)))
        problems.push(`${f}: output ${o.name} carries a @secure parameter`);
    }
    const { settings } = appSettings(p);
    for (const [name, value] of settings) {
      if (SECRET_NAME.test(name) && !NOT_SECRETS.has(name))
        problems.push(`${f}: app setting ${name} looks like a secret`);
      if (identifiersIn(value).some((i) => secureParams.has(i)))
        problems.push(`${f}: app setting ${name} carries a @secure parameter`);
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------------------------
// 7. azd conventions: parameters, naming, tags, outputs

export function azdConventionsRule(t: Templates): string[] {
  const problems: string[] = [];
  const main = parse(t, MAIN);
  const target = main.root.namedChildren.find((n) => n.type === 'target_scope_assignment');
  if (stringLiteral(target?.namedChildren[0]) !== 'subscription')
    problems.push(`${MAIN}: targetScope must be 'subscription'`);

  const ps = params(main);
  for (const name of ['environmentName', 'location', 'principalId'])
    if (!ps.some((p) => p.name === name)) problems.push(`${MAIN}: param ${name} is missing`);
  const location = ps.find((p) => p.name === 'location');
  if (location && !location.decorators.includes('metadata'))
    problems.push(`${MAIN}: param location needs @metadata({ azd: { type: 'location' } })`);

  const vars = new Map(variables(main).map((v) => [v.name, v.value]));
  const token = vars.get('resourceToken')?.text.replace(/\s+/g, '');
  if (token !== 'toLower(uniqueString(subscription().id,environmentName,location))')
    problems.push(`${MAIN}: resourceToken must be toLower(uniqueString(subscription().id, environmentName, location))`);
  if (vars.get('abbrs')?.text !== "loadJsonContent('./abbreviations.json')")
    problems.push(`${MAIN}: abbrs must be loadJsonContent('./abbreviations.json')`);
  const tags = vars.get('tags');
  if (!tags || !objectEntries(tags).some((e) => e.key === 'azd-env-name' && e.value.text === 'environmentName'))
    problems.push(`${MAIN}: tags must carry 'azd-env-name': environmentName`);

  // Names: `!empty(override) ? override : '${abbrs.<key>}…${resourceToken}'`, key in abbreviations.json.
  let abbrs: Record<string, unknown> = {};
  try {
    const a = json(t, ABBREVIATIONS);
    if (isRecord(a)) abbrs = a;
  } catch (err) {
    problems.push(`${ABBREVIATIONS}: ${(err as Error).message}`);
  }
  const names = objectEntries(vars.get('names'));
  if (names.length === 0) problems.push(`${MAIN}: var names (generated resource names) is missing`);
  for (const { key, value } of names) {
    const generated = value.type === 'ternary_expression' ? value.namedChildren[value.namedChildren.length - 1] : value;
    const m = /^'\$\{abbrs\.([A-Za-z]+)\}.*\$\{(resourceToken|environmentName)\}'$/.exec(generated?.text ?? '');
    if (!m) problems.push(`${MAIN}: name '${key}' must be '\${abbrs.<kind>}…\${resourceToken}' (found ${value.text})`);
    else if (typeof abbrs[m[1]] !== 'string')
      problems.push(`${MAIN}: abbreviation '${m[1]}' is not in ${ABBREVIATIONS}`);
  }
  // The deployment container name derives from the app name and the token, as in the azd templates.
  const container = vars.get('deploymentContainerName');
  if (!container || !/names\.functionApp/.test(container.text) || !/resourceToken/.test(container.text))
    problems.push(`${MAIN}: deploymentContainerName must derive from names.functionApp and resourceToken`);
  // Every resource name a module gets comes from `names` (or another module's output). Not resource names:
  // serviceName (azure.yaml service), taskHubName (a Durable setting), deploymentContainerName (checked above).
  const notResourceNames = new Set(['serviceName', 'taskHubName', 'deploymentContainerName']);
  for (const m of modules(main)) {
    const nameParams = objectEntries(propertyAt(m.body, 'params')).filter((e) => /(^n|N)ame$/.test(e.key));
    for (const e of nameParams)
      if (!notResourceNames.has(e.key) && !/^(names\.|\w+\.outputs\.)/.test(e.value.text))
        problems.push(`${MAIN}: module ${m.symbol} param ${e.key} must come from names.* (found ${e.value.text})`);
    if (propertyAt(m.body, 'params.tags')?.text !== undefined && propertyAt(m.body, 'params.tags')?.text !== 'tags')
      problems.push(`${MAIN}: module ${m.symbol} must pass the azd tags`);
  }
  // Every new, located resource in the modules is tagged.
  for (const f of bicepFiles(t))
    for (const r of resources(parse(t, f)))
      if (!r.existing && r.body && propertyAt(r.body, 'location') && !propertyAt(r.body, 'tags'))
        problems.push(`${f}: resource ${r.symbol} has no tags`);

  for (const o of outputs(main))
    if (!/^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/.test(o.name)) problems.push(`${MAIN}: output ${o.name} is not UPPER_SNAKE`);
  for (const name of ['AZURE_LOCATION', 'AZURE_TENANT_ID', 'SERVICE_API_NAME', 'AZURE_KEY_VAULT_ENDPOINT'])
    if (!outputs(main).some((o) => o.name === name)) problems.push(`${MAIN}: output ${name} is missing`);
  return problems;
}

// ---------------------------------------------------------------------------------------------------------------
// 8. azure.yaml, main.parameters.json and docs/deploy.md agree with main.bicep

export function agreementRule(t: Templates): string[] {
  const problems: string[] = [];
  const main = parse(t, MAIN);
  const declared = new Map(params(main).map((p) => [p.name, p]));

  let given: Record<string, unknown> = {};
  try {
    const pj = json(t, PARAMETERS);
    if (isRecord(pj) && isRecord(pj.parameters)) given = pj.parameters;
    else problems.push(`${PARAMETERS}: no "parameters" object`);
  } catch (err) {
    problems.push(`${PARAMETERS}: ${(err as Error).message}`);
  }
  for (const name of Object.keys(given))
    if (!declared.has(name)) problems.push(`${PARAMETERS}: parameter ${name} is not declared in ${MAIN}`);
  for (const [name, p] of declared)
    if (!p.value && !(name in given)) problems.push(`${PARAMETERS}: required parameter ${name} has no value`);
  const envVars = new Set<string>();
  for (const [name, v] of Object.entries(given)) {
    const value = isRecord(v) ? v.value : undefined;
    const m = typeof value === 'string' ? /^\$\{([A-Z][A-Z0-9_]*)(=[^}]*)?\}$/.exec(value) : null;
    if (!m) problems.push(`${PARAMETERS}: ${name} must be an azd \${ENV_VAR} reference`);
    else envVars.add(m[1]);
  }

  const yaml = t[AZURE_YAML] ?? '';
  if (!yaml) problems.push(`${AZURE_YAML} is missing`);
  else {
    const service = /^services:\s*\n\s+api:\s*\n((?:\s{4,}.*\n?)+)/m.exec(yaml);
    if (!service) problems.push(`${AZURE_YAML}: services.api is missing`);
    else {
      const body = service[1];
      for (const [k, v] of [
        ['project', '\\.'],
        ['language', 'ts'],
        ['host', 'function'],
      ])
        if (!new RegExp(`^\\s+${k}:\\s*['"]?${v}['"]?\\s*$`, 'm').test(body))
          problems.push(`${AZURE_YAML}: services.api.${k} must be ${v.replace('\\', '')}`);
    }
  }
  const api = parse(t, API);
  const serviceName = params(api).find((p) => p.name === 'serviceName');
  if (stringLiteral(serviceName?.value) !== 'api')
    problems.push(`${API}: serviceName must default to 'api' (azure.yaml)`);

  const doc = t[DEPLOY_DOC] ?? '';
  if (!doc) problems.push(`${DEPLOY_DOC} is missing`);
  else {
    for (const v of envVars)
      if (!v.startsWith('AZURE_') && !doc.includes(v)) problems.push(`${DEPLOY_DOC}: does not mention ${v}`);
    for (const phrase of ['bicep build', 'az deployment sub what-if', 'azd up'])
      if (!doc.includes(phrase)) problems.push(`${DEPLOY_DOC}: does not mention '${phrase}'`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------------------------
// 9. Key Vault SecretNearExpiry backstop (Event Grid system topic + subscription to the function)

/** Event type the backstop handles (src/rotation/near-expiry.ts SECRET_NEAR_EXPIRY; Learn "Azure Key Vault as Event Grid source"). */
export const NEAR_EXPIRY_EVENT = 'Microsoft.KeyVault.SecretNearExpiry';
/** The certificate credentials' event (src/rotation/near-expiry.ts CERTIFICATE_NEAR_EXPIRY), handled by the same function. */
export const CERTIFICATE_NEAR_EXPIRY_EVENT = 'Microsoft.KeyVault.CertificateNearExpiry';
const NEAR_EXPIRY_EVENTS = [NEAR_EXPIRY_EVENT, CERTIFICATE_NEAR_EXPIRY_EVENT];
/** main.bicep parameter that turns the subscription on (a second `azd provision`, docs/deploy.md). */
export const NEAR_EXPIRY_PARAM = 'enableSecretNearExpiryEvents';
export const NEAR_EXPIRY_ENV = 'ENABLE_SECRET_NEAR_EXPIRY_EVENTS';

/**
 * The vault publishes to an Event Grid system topic (topicType Microsoft.KeyVault.vaults, source = the vault), and a
 * subscription on it delivers only SecretNearExpiry and CertificateNearExpiry, in the Event Grid schema, to `<function app id>/functions/<name>`
 * (endpointType AzureFunction, Learn "Event handlers: Azure Functions"). The subscription is conditional on a
 * parameter that defaults to false, because Event Grid validates the function when the subscription is created and
 * azd provisions before it deploys code; docs and main.parameters.json expose the switch.
 */
export function keyVaultEventsRule(t: Templates, functionName: string): string[] {
  const problems: string[] = [];
  const p = parse(t, EVENTS);
  const rs = resources(p);
  const vault = rs.find((r) => r.type === 'Microsoft.KeyVault/vaults' && r.existing);
  const site = rs.find((r) => r.type === 'Microsoft.Web/sites' && r.existing);
  const topic = rs.find((r) => r.type === 'Microsoft.EventGrid/systemTopics' && !r.existing);
  if (!topic?.body) problems.push(`${EVENTS}: no Microsoft.EventGrid/systemTopics resource`);
  else {
    if (topic.conditional) problems.push(`${EVENTS}: the system topic must not be conditional`);
    if (stringLiteral(propertyAt(topic.body, 'properties.topicType')) !== 'Microsoft.KeyVault.vaults')
      problems.push(`${EVENTS}: system topic topicType must be 'Microsoft.KeyVault.vaults'`);
    if (!vault || propertyAt(topic.body, 'properties.source')?.text !== `${vault.symbol}.id`)
      problems.push(`${EVENTS}: system topic source must be the id of the existing vault`);
  }

  const subs = rs.filter((r) => r.type === 'Microsoft.EventGrid/systemTopics/eventSubscriptions' && !r.existing);
  if (subs.length !== 1)
    problems.push(`${EVENTS}: expected one event subscription on the system topic, found ${subs.length}`);
  const sub = subs[0];
  if (sub?.body) {
    const str = (path: string) => stringLiteral(propertyAt(sub.body, path));
    if (topic && propertyAt(sub.body, 'parent')?.text !== topic.symbol)
      problems.push(`${EVENTS}: the subscription's parent must be the system topic '${topic.symbol}'`);
    if (str('properties.destination.endpointType') !== 'AzureFunction')
      problems.push(`${EVENTS}: destination endpointType must be 'AzureFunction'`);
    const target = propertyAt(sub.body, 'properties.destination.properties.resourceId')?.text.replace(/\s+/g, '');
    const fnParam = params(p).find((d) => d.name === 'functionName');
    if (!site || target !== `'\${${site.symbol}.id}/functions/\${functionName}'`)
      problems.push(`${EVENTS}: destination resourceId must be '\${<function app>.id}/functions/\${functionName}'`);
    if (stringLiteral(fnParam?.value) !== functionName)
      problems.push(`${EVENTS}: param functionName must default to '${functionName}' (the registered function)`);
    const types = propertyAt(sub.body, 'properties.filter.includedEventTypes');
    const listed = types?.type === 'array' ? types.namedChildren.map((n) => stringLiteral(n) ?? n.text) : [];
    for (const wanted of NEAR_EXPIRY_EVENTS)
      if (!listed.includes(wanted)) problems.push(`${EVENTS}: filter.includedEventTypes must include ${wanted}`);
    for (const other of listed.filter((x) => !NEAR_EXPIRY_EVENTS.includes(x)))
      problems.push(`${EVENTS}: event type ${other} is not handled by the backstop`);
    if (str('properties.eventDeliverySchema') !== 'EventGridSchema')
      problems.push(`${EVENTS}: eventDeliverySchema must be 'EventGridSchema' (the trigger takes EventGridEvent)`);
    const cond = sub.node.namedChildren[sub.node.namedChildren.length - 1];
    if (!sub.conditional || !cond || !identifiersIn(cond).includes('enableSubscription'))
      problems.push(
        `${EVENTS}: the subscription must depend on enableSubscription (the function exists only after deploy)`,
      );
  }
  const enable = params(p).find((d) => d.name === 'enableSubscription');
  if (!enable || booleanLiteral(enable.value) !== false)
    problems.push(`${EVENTS}: param enableSubscription must default to false`);

  const main = parse(t, MAIN);
  const mod = modules(main).find((m) => m.path === 'app/keyvault-events.bicep');
  if (!mod?.body) problems.push(`${MAIN}: module app/keyvault-events.bicep is missing`);
  else {
    const param = (n: string) => propertyAt(mod.body, `params.${n}`)?.text;
    if (mod.conditional) problems.push(`${MAIN}: module app/keyvault-events.bicep must not be conditional`);
    if (param('keyVaultName') !== 'keyVault.outputs.name')
      problems.push(`${MAIN}: keyvault-events must get keyVaultName from the keyVault module`);
    // From the api module's output, so the module waits for the Function App.
    if (param('functionAppName') !== 'api.outputs.name')
      problems.push(`${MAIN}: keyvault-events must get functionAppName from the api module`);
    if (param('enableSubscription') !== NEAR_EXPIRY_PARAM)
      problems.push(`${MAIN}: keyvault-events must get enableSubscription from param ${NEAR_EXPIRY_PARAM}`);
  }
  const mainParam = params(main).find((d) => d.name === NEAR_EXPIRY_PARAM);
  if (!mainParam || booleanLiteral(mainParam.value) !== false)
    problems.push(`${MAIN}: param ${NEAR_EXPIRY_PARAM} must exist and default to false`);

  let given: unknown;
  try {
    const pj = json(t, PARAMETERS);
    given = isRecord(pj) && isRecord(pj.parameters) ? pj.parameters[NEAR_EXPIRY_PARAM] : undefined;
  } catch {
    given = undefined;
  }
  if (!isRecord(given) || given.value !== `\${${NEAR_EXPIRY_ENV}=false}`)
    problems.push(`${PARAMETERS}: ${NEAR_EXPIRY_PARAM} must be \${${NEAR_EXPIRY_ENV}=false}`);

  const doc = t[DEPLOY_DOC] ?? '';
  for (const phrase of [
    NEAR_EXPIRY_ENV,
    NEAR_EXPIRY_EVENT,
    CERTIFICATE_NEAR_EXPIRY_EVENT,
    'azd provision',
    functionName,
  ])
    if (!doc.includes(phrase)) problems.push(`${DEPLOY_DOC}: does not mention '${phrase}'`);
  return problems;
}

// ---------------------------------------------------------------------------------------------------------------
// Shared helpers for the least-privilege rules below

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Built-in role ids these rules talk about (Learn "Azure built-in roles"). */
export const KEY_VAULT_ROLES = {
  secretsOfficer: 'b86a8fe4-4576-4b2f-8dfa-1e8b0f7f0bba',
  secretsUser: '4633458b-17de-408a-b874-0445c86b69e6',
  certificatesOfficer: 'a4417e6f-fecd-4de8-b567-7b0420556985',
  cryptoUser: '12338af0-0e69-4776-bea7-57ae8d297424',
} as const;

/**
 * The only roles the identity may hold on the client secrets vault: Secrets Officer (client secrets, and the PFX of a
 * certificate read as its secret), Certificates Officer (create the certificates), Crypto User (sign with their keys).
 * Anything broader (Key Vault Administrator, Crypto Officer, Contributor…) is refused (Learn "Azure built-in roles for
 * Key Vault data plane operations").
 */
const SECRETS_VAULT_ROLES: Record<string, string> = {
  [KEY_VAULT_ROLES.secretsOfficer]: 'Key Vault Secrets Officer',
  [KEY_VAULT_ROLES.certificatesOfficer]: 'Key Vault Certificates Officer',
  [KEY_VAULT_ROLES.cryptoUser]: 'Key Vault Crypto User',
};

/** main.bicep param → its declaration, or undefined. */
const mainParam = (t: Templates, name: string) => params(parse(t, MAIN)).find((d) => d.name === name);

/** The value main.parameters.json gives a parameter (`${ENV=default}`), or undefined. */
function parameterValue(t: Templates, name: string): unknown {
  try {
    const pj = json(t, PARAMETERS);
    const v = isRecord(pj) && isRecord(pj.parameters) ? pj.parameters[name] : undefined;
    return isRecord(v) ? v.value : undefined;
  } catch {
    return undefined;
  }
}

/** The condition of a conditional resource or module (`= if (cond) {…}`), as text; undefined when unconditional. */
function conditionOf(node: SyntaxNode): SyntaxNode | undefined {
  const value = node.namedChildren[node.namedChildren.length - 1];
  if (value?.type !== 'if_statement') return undefined;
  return value.namedChildren.find((c) => c.type !== 'object');
}

/**
 * The string a property takes when `param` has the value `when`: a literal, or a ternary on the bare parameter
 * (`param ? 'a' : 'b'`). Anything else is unknown (undefined), which the rules report.
 */
export function stringWhen(node: SyntaxNode | undefined, param: string, when: boolean): string | undefined {
  if (!node) return undefined;
  if (node.type === 'parenthesized_expression') return stringWhen(node.namedChildren[0], param, when);
  if (node.type === 'string') return stringLiteral(node);
  if (node.type === 'ternary_expression') {
    const [cond, yes, no] = node.namedChildren;
    if (cond?.type === 'identifier' && cond.text === param) return stringWhen(when ? yes : no, param, when);
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// 10. Two vaults: the identity writes only the client secrets, and only reads the ServiceNow admin credentials

/**
 * Both vaults are instances of app/keyvault.bicep (so the hardening flags checked on that module hold for both); the
 * identity is Key Vault Secrets Officer, Certificates Officer and Crypto User on the client secrets vault only (and
 * nothing else there), and holds nothing but Key Vault Secrets User on the credentials vault; the deployer's optional Officer role lands on the credentials vault; the app gets both
 * vault URLs as KEY_VAULT_URL and SERVICENOW_CREDENTIALS_VAULT_URL.
 */
export function vaultSeparationRule(t: Templates): string[] {
  const problems: string[] = [];
  const main = parse(t, MAIN);
  const mods = modules(main);
  const vaultMods = mods.filter((m) => m.path === 'app/keyvault.bicep');
  const secretsMod = vaultMods.find((m) => m.symbol === 'keyVault');
  const credsMod = vaultMods.find((m) => m.symbol === 'credentialsVault');
  if (vaultMods.length !== 2 || !secretsMod || !credsMod)
    problems.push(
      `${MAIN}: expected app/keyvault.bicep twice, as modules keyVault (client secrets) and credentialsVault (ServiceNow credentials)`,
    );
  for (const m of [secretsMod, credsMod])
    if (m?.conditional) problems.push(`${MAIN}: module ${m.symbol} must not be conditional`);
  const vaultName = (m: typeof secretsMod) => (m?.body ? propertyAt(m.body, 'params.name')?.text : undefined);
  if (secretsMod && credsMod && vaultName(secretsMod) === vaultName(credsMod))
    problems.push(`${MAIN}: the two vaults must have different names`);
  if (credsMod && vaultName(credsMod) !== 'names.serviceNowCredentialsVault')
    problems.push(`${MAIN}: module credentialsVault must be named names.serviceNowCredentialsVault`);

  const rbacMod = mods.find((m) => m.path === 'app/rbac.bicep');
  const rbacParam = (n: string) => (rbacMod?.body ? propertyAt(rbacMod.body, `params.${n}`)?.text : undefined);
  if (rbacParam('keyVaultName') !== 'keyVault.outputs.name')
    problems.push(`${MAIN}: rbac must get keyVaultName from the keyVault module`);
  if (rbacParam('credentialsVaultName') !== 'credentialsVault.outputs.name')
    problems.push(`${MAIN}: rbac must get credentialsVaultName from the credentialsVault module`);

  const rbac = parse(t, RBAC);
  const rs = resources(rbac);
  const existingVault = (param: string) =>
    rs.find((r) => r.type === 'Microsoft.KeyVault/vaults' && r.existing && propertyAt(r.body, 'name')?.text === param)
      ?.symbol;
  const secretsVault = existingVault('keyVaultName');
  const credsVault = existingVault('credentialsVaultName');
  if (!secretsVault || !credsVault)
    problems.push(`${RBAC}: needs existing vaults named keyVaultName and credentialsVaultName`);

  const onSecretsVault = new Set<string>();
  let userOnCreds = false;
  for (const a of rs.filter((r) => r.type === 'Microsoft.Authorization/roleAssignments' && r.body)) {
    const roleDef = propertyAt(a.body, 'properties.roleDefinitionId');
    const role = roleDef
      ? stringsIn(roleDef)
          .find((x) => GUID.test(x))
          ?.toLowerCase()
      : undefined;
    const scope = propertyAt(a.body, 'scope')?.text;
    const principal = propertyAt(a.body, 'properties.principalId')?.text;
    const nameText = propertyAt(a.body, 'name')?.text ?? '';
    if (scope && nameText && !nameText.includes(`${scope}.id`))
      problems.push(`${RBAC}: role assignment '${a.symbol}' must be named guid(${scope}.id, …) after its scope`);
    if (principal === 'identityPrincipalId') {
      if (scope === credsVault) {
        if (role === KEY_VAULT_ROLES.secretsUser && !a.conditional) userOnCreds = true;
        else
          problems.push(
            `${RBAC}: '${a.symbol}' gives the identity role ${role ?? '?'} on the credentials vault; only Key Vault Secrets User (${KEY_VAULT_ROLES.secretsUser}) is allowed there`,
          );
      }
      if (role && SECRETS_VAULT_ROLES[role]) {
        if (scope === secretsVault && !a.conditional) onSecretsVault.add(role);
        else
          problems.push(
            `${RBAC}: '${a.symbol}' gives the identity ${SECRETS_VAULT_ROLES[role]} on '${scope ?? '?'}'; only the client secrets vault is allowed`,
          );
      } else if (scope === secretsVault)
        problems.push(
          `${RBAC}: '${a.symbol}' gives the identity role ${role ?? '?'} on the client secrets vault; only ${Object.values(SECRETS_VAULT_ROLES).join(', ')} are allowed there`,
        );
    } else if (principal && role === KEY_VAULT_ROLES.secretsOfficer && scope !== credsVault)
      problems.push(
        `${RBAC}: '${a.symbol}' gives ${principal} Key Vault Secrets Officer on '${scope ?? '?'}'; the deployer needs it on the credentials vault only`,
      );
  }
  for (const [id, name] of Object.entries(SECRETS_VAULT_ROLES))
    if (!onSecretsVault.has(id)) problems.push(`${RBAC}: the identity must be ${name} on the client secrets vault`);
  if (!userOnCreds) problems.push(`${RBAC}: the identity must be Key Vault Secrets User on the credentials vault`);

  const apiMod = mods.find((m) => m.path === 'app/api.bicep');
  const apiParam = (n: string) => (apiMod?.body ? propertyAt(apiMod.body, `params.${n}`)?.text : undefined);
  if (apiParam('keyVaultUrl') !== 'keyVault.outputs.uri')
    problems.push(`${MAIN}: api must get keyVaultUrl from the keyVault module`);
  if (apiParam('serviceNowCredentialsVaultUrl') !== 'credentialsVault.outputs.uri')
    problems.push(`${MAIN}: api must get serviceNowCredentialsVaultUrl from the credentialsVault module`);
  const { settings } = appSettings(parse(t, API));
  if (settings.get('KEY_VAULT_URL')?.text !== 'keyVaultUrl')
    problems.push(`${API}: KEY_VAULT_URL must be param keyVaultUrl (the client secrets vault)`);
  if (settings.get('SERVICENOW_CREDENTIALS_VAULT_URL')?.text !== 'serviceNowCredentialsVaultUrl')
    problems.push(`${API}: SERVICENOW_CREDENTIALS_VAULT_URL must be param serviceNowCredentialsVaultUrl`);
  return problems;
}

// ---------------------------------------------------------------------------------------------------------------
// 11. Mail.Send is not granted in Entra unless asked for

export const MAIL_SEND_PARAM = 'grantEntraMailSend';
export const MAIL_SEND_ENV = 'GRANT_ENTRA_MAIL_SEND';
/** What docs/deploy.md must explain: Exchange RBAC for Applications scoped to the sender, and what it superseded. */
export const MAIL_SEND_DOC_PHRASES = [
  MAIL_SEND_ENV,
  'https://learn.microsoft.com/exchange/permissions-exo/application-rbac',
  'New-ServicePrincipal',
  'New-ManagementScope',
  'New-ManagementRoleAssignment',
  'Application Mail.Send',
  '-CustomResourceScope',
  'MAIL_SENDER',
  'New-ApplicationAccessPolicy',
  'https://learn.microsoft.com/graph/auth-limit-mailbox-access',
];

/** Whether `node` sits in the `then` branch of a ternary on the bare identifier `param`. */
function guardedBy(node: SyntaxNode, param: string): boolean {
  for (let child = node, parent = node.parent; parent; child = parent, parent = parent.parent)
    if (parent.type === 'ternary_expression') {
      const [cond, yes] = parent.namedChildren;
      if (cond?.type === 'identifier' && cond.text === param && yes?.startIndex === child.startIndex) return true;
    }
  return false;
}

/**
 * A tenant-wide Graph Mail.Send app role lets the identity send as any mailbox, and an Exchange scope cannot narrow it.
 * So the switch defaults to false in main.bicep, the module and main.parameters.json, 'Mail.Send' appears in the Graph
 * module only behind that switch, and docs/deploy.md explains the scoped alternative.
 */
export function mailSendRule(t: Templates): string[] {
  const problems: string[] = [];
  const main = mainParam(t, MAIL_SEND_PARAM);
  if (!main || booleanLiteral(main.value) !== false)
    problems.push(`${MAIN}: param ${MAIL_SEND_PARAM} must exist and default to false`);
  const graph = parse(t, GRAPH);
  const modParam = params(graph).find((d) => d.name === MAIL_SEND_PARAM);
  if (!modParam || booleanLiteral(modParam.value) !== false)
    problems.push(`${GRAPH}: param ${MAIL_SEND_PARAM} must exist and default to false`);
  const mailSend: SyntaxNode[] = [];
  const walk = (n: SyntaxNode) => {
    if (stringLiteral(n) === 'Mail.Send') mailSend.push(n);
    for (const c of n.namedChildren) walk(c);
  };
  walk(graph.root);
  if (mailSend.length === 0) problems.push(`${GRAPH}: Mail.Send is not grantable at all`);
  for (const n of mailSend)
    if (!guardedBy(n, MAIL_SEND_PARAM))
      problems.push(
        `${GRAPH}:${n.startPosition.row + 1}: 'Mail.Send' must only be granted behind ${MAIL_SEND_PARAM} ? … : …`,
      );
  const mod = modules(parse(t, MAIN)).find((m) => m.path === 'app/graph-permissions.bicep');
  if (!mod?.body || propertyAt(mod.body, `params.${MAIL_SEND_PARAM}`)?.text !== MAIL_SEND_PARAM)
    problems.push(`${MAIN}: graph-permissions must get ${MAIL_SEND_PARAM} from param ${MAIL_SEND_PARAM}`);
  if (parameterValue(t, MAIL_SEND_PARAM) !== `\${${MAIL_SEND_ENV}=false}`)
    problems.push(`${PARAMETERS}: ${MAIL_SEND_PARAM} must be \${${MAIL_SEND_ENV}=false}`);
  const doc = t[DEPLOY_DOC] ?? '';
  for (const phrase of MAIL_SEND_DOC_PHRASES)
    if (!doc.includes(phrase)) problems.push(`${DEPLOY_DOC}: does not mention '${phrase}'`);
  return problems;
}

// ---------------------------------------------------------------------------------------------------------------
// 12. Optional private networking

export const PRIVATE_PARAM = 'privateNetworking';
export const PRIVATE_ENV = 'PRIVATE_NETWORKING';

/** Private endpoints network.bicep must create: the target (an existing resource named by a param) and group id. */
export const REQUIRED_PRIVATE_ENDPOINTS = [
  { target: 'Microsoft.KeyVault/vaults', name: 'keyVaultName', groupId: 'vault', zone: 'privatelink.vaultcore.' },
  {
    target: 'Microsoft.KeyVault/vaults',
    name: 'credentialsVaultName',
    groupId: 'vault',
    zone: 'privatelink.vaultcore.',
  },
  {
    target: 'Microsoft.Storage/storageAccounts',
    name: 'storageAccountName',
    groupId: 'blob',
    zone: 'privatelink.blob.',
  },
  {
    target: 'Microsoft.Storage/storageAccounts',
    name: 'storageAccountName',
    groupId: 'queue',
    zone: 'privatelink.queue.',
  },
  {
    target: 'Microsoft.Storage/storageAccounts',
    name: 'storageAccountName',
    groupId: 'table',
    zone: 'privatelink.table.',
  },
] as const;

/** Resources whose public network access the private mode turns off: file, type, main.bicep module symbols. */
const PRIVATE_TARGETS = [
  { file: KEYVAULT, type: 'Microsoft.KeyVault/vaults', modules: ['keyVault', 'credentialsVault'] },
  { file: STORAGE, type: 'Microsoft.Storage/storageAccounts', modules: ['storage'] },
] as const;

const within = (inner: SyntaxNode, outer: SyntaxNode) =>
  inner.startIndex >= outer.startIndex && inner.endIndex <= outer.endIndex;

/**
 * Behind `privateNetworking` (default false): both vaults and the storage account refuse public network access, a
 * private endpoint with a DNS zone group in the matching privatelink zone (linked to the network) serves each vault
 * and blob, queue and table, and the Function App joins a subnet delegated to Microsoft.App/environments.
 */
export function privateNetworkingRule(t: Templates): string[] {
  const problems: string[] = [];
  const main = parse(t, MAIN);
  const mp = mainParam(t, PRIVATE_PARAM);
  if (!mp || booleanLiteral(mp.value) !== false)
    problems.push(`${MAIN}: param ${PRIVATE_PARAM} must exist and default to false`);
  if (parameterValue(t, PRIVATE_PARAM) !== `\${${PRIVATE_ENV}=false}`)
    problems.push(`${PARAMETERS}: ${PRIVATE_PARAM} must be \${${PRIVATE_ENV}=false}`);
  if (!(t[DEPLOY_DOC] ?? '').includes(PRIVATE_ENV)) problems.push(`${DEPLOY_DOC}: does not mention '${PRIVATE_ENV}'`);
  const mods = modules(main);

  // Public network access off (and the firewall denying) when the switch is on.
  for (const target of PRIVATE_TARGETS) {
    const p = parse(t, target.file);
    const r = resources(p).find((x) => x.type === target.type && !x.existing);
    const declared = params(p).find((d) => d.name === PRIVATE_PARAM);
    if (!declared || booleanLiteral(declared.value) !== false)
      problems.push(`${target.file}: param ${PRIVATE_PARAM} must exist and default to false`);
    const access = propertyAt(r?.body, 'properties.publicNetworkAccess');
    if (stringWhen(access, PRIVATE_PARAM, true) !== 'Disabled')
      problems.push(`${target.file}: publicNetworkAccess must be 'Disabled' when ${PRIVATE_PARAM} is true`);
    if (stringWhen(propertyAt(r?.body, 'properties.networkAcls.defaultAction'), PRIVATE_PARAM, true) !== 'Deny')
      problems.push(`${target.file}: networkAcls.defaultAction must be 'Deny' when ${PRIVATE_PARAM} is true`);
    for (const symbol of target.modules) {
      const m = mods.find((x) => x.symbol === symbol);
      if (!m?.body || propertyAt(m.body, `params.${PRIVATE_PARAM}`)?.text !== PRIVATE_PARAM)
        problems.push(`${MAIN}: module ${symbol} must get ${PRIVATE_PARAM} from param ${PRIVATE_PARAM}`);
    }
  }

  // The network module, behind the switch, wired to the vaults and the storage account.
  const netMod = mods.find((m) => m.path === 'app/network.bicep');
  if (!netMod?.body) problems.push(`${MAIN}: module app/network.bicep is missing`);
  else {
    const cond = conditionOf(netMod.node);
    if (!cond || cond.text.replace(/[()\s]/g, '') !== PRIVATE_PARAM)
      problems.push(`${MAIN}: module network must be deployed if (${PRIVATE_PARAM}) only`);
    const wiring: Array<[string, string]> = [
      ['keyVaultName', 'keyVault.outputs.name'],
      ['credentialsVaultName', 'credentialsVault.outputs.name'],
      ['storageAccountName', 'storage.outputs.name'],
    ];
    for (const [param, expected] of wiring)
      if (propertyAt(netMod.body, `params.${param}`)?.text !== expected)
        problems.push(`${MAIN}: network must get ${param} from ${expected}`);
  }

  // Endpoints, zones and links.
  const net = parse(t, NETWORK);
  const rs = resources(net);
  const vnet = rs.find((r) => r.type === 'Microsoft.Network/virtualNetworks' && !r.existing);
  const zones = rs.filter((r) => r.type === 'Microsoft.Network/privateDnsZones' && !r.existing && r.body);
  const links = rs.filter((r) => r.type === 'Microsoft.Network/privateDnsZones/virtualNetworkLinks' && r.body);
  const endpoints = rs.filter((r) => r.type === 'Microsoft.Network/privateEndpoints' && !r.existing && r.body);
  const groups = rs.filter((r) => r.type === 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups' && r.body);
  for (const r of [...zones, ...links, ...endpoints, ...groups])
    if (r.conditional) problems.push(`${NETWORK}: ${r.symbol} must not be conditional (the module is)`);
  const used = new Set<string>();
  for (const need of REQUIRED_PRIVATE_ENDPOINTS) {
    const label = `${need.groupId} endpoint for ${need.name}`;
    const target = rs.find(
      (r) => r.type === need.target && r.existing && propertyAt(r.body, 'name')?.text === need.name,
    );
    if (!target) {
      problems.push(`${NETWORK}: no existing ${need.target} named by param ${need.name}`);
      continue;
    }
    const ep = endpoints.find((e) => {
      if (used.has(e.symbol)) return false;
      const conn = propertyAt(e.body, 'properties.privateLinkServiceConnections');
      const first = conn?.type === 'array' ? conn.namedChildren[0] : undefined;
      const groupIds = propertyAt(first, 'properties.groupIds');
      return (
        propertyAt(first, 'properties.privateLinkServiceId')?.text === `${target.symbol}.id` &&
        !!groupIds &&
        stringsIn(groupIds).includes(need.groupId)
      );
    });
    if (!ep) {
      problems.push(
        `${NETWORK}: no private endpoint (${label}) to ${target.symbol}.id with groupIds ['${need.groupId}']`,
      );
      continue;
    }
    used.add(ep.symbol);
    if (!vnet || !propertyAt(ep.body, 'properties.subnet.id')) problems.push(`${NETWORK}: the ${label} has no subnet`);
    const group = groups.find((g) => within(g.node, ep.node) || propertyAt(g.body, 'parent')?.text === ep.symbol);
    const configs = propertyAt(group?.body, 'properties.privateDnsZoneConfigs');
    const zone = zones.find(
      (z) =>
        (propertyAt(z.body, 'name')?.text ?? '').startsWith(`'${need.zone}`) &&
        !!configs &&
        identifiersIn(configs).includes(z.symbol),
    );
    const link = zone
      ? links.find((l) => within(l.node, zone.node) || propertyAt(l.body, 'parent')?.text === zone.symbol)
      : undefined;
    if (!group || !configs) problems.push(`${NETWORK}: the ${label} has no private DNS zone group`);
    else if (!zone) problems.push(`${NETWORK}: the ${label} must register in a '${need.zone}…' private DNS zone`);
    else if (!vnet || propertyAt(link?.body, 'properties.virtualNetwork.id')?.text !== `${vnet.symbol}.id`)
      problems.push(`${NETWORK}: private DNS zone ${zone.symbol} must be linked to the virtual network`);
  }

  // The Function App joins a subnet delegated to Microsoft.App/environments.
  const subnets = propertyAt(vnet?.body, 'properties.subnets');
  const delegated = (subnets?.type === 'array' ? subnets.namedChildren : []).find((sn) =>
    stringsIn(propertyAt(sn, 'properties.delegations') ?? sn).includes('Microsoft.App/environments'),
  );
  if (!delegated) problems.push(`${NETWORK}: no subnet delegated to Microsoft.App/environments (Flex Consumption)`);
  const subnetName = delegated ? propertyAt(delegated, 'name')?.text : undefined;
  const out = outputs(net).find((o) => o.name === 'appSubnetId');
  if (!out?.value || !subnetName || !out.value.text.includes(subnetName))
    problems.push(`${NETWORK}: output appSubnetId must be the delegated subnet`);
  const site = resources(parse(t, API)).find((r) => r.type === 'Microsoft.Web/sites' && !r.existing);
  const subnetRef = propertyAt(site?.body, 'properties.virtualNetworkSubnetId');
  if (!subnetRef || !identifiersIn(subnetRef).includes('virtualNetworkSubnetId'))
    problems.push(`${API}: the site must set properties.virtualNetworkSubnetId from param virtualNetworkSubnetId`);
  const apiMod = mods.find((m) => m.path === 'app/api.bicep');
  const given = apiMod?.body ? propertyAt(apiMod.body, 'params.virtualNetworkSubnetId')?.text : undefined;
  if (!given || !netMod || !given.includes(`${netMod.symbol}.`) || !given.includes('appSubnetId'))
    problems.push(`${MAIN}: api must get virtualNetworkSubnetId from the network module's appSubnetId`);
  return problems;
}

// ---------------------------------------------------------------------------------------------------------------
// 13. The product's Table Storage tables exist

/**
 * Tables the code opens (src/app/deps.ts: registry, approval tokens, leases, ownership ledger). The Functions
 * host does not create them; the stores call createTable on first use, but the deployment creates them up front so
 * they show in what-if and do not depend on that first call.
 */
export const REQUIRED_TABLES = ['integrations', 'approvals', 'leases', 'ownership', 'audit', 'alerts'] as const;

/** Strings in `node` and in every param default or var it names, followed through further names (for loops). */
function reachableStrings(p: ParsedBicep, node: SyntaxNode): string[] {
  const decls = new Map([...params(p), ...variables(p)].map((d) => [d.name, d.value]));
  const out: string[] = [];
  const seen = new Set<string>();
  const visit = (n: SyntaxNode) => {
    out.push(...stringsIn(n));
    for (const id of identifiersIn(n)) {
      const value = decls.get(id);
      if (value && !seen.has(id)) {
        seen.add(id);
        visit(value);
      }
    }
  };
  visit(node);
  return out;
}

/**
 * storage.bicep creates every required table, unconditionally, as `tableServices/tables` of the account (a literal
 * name, or a loop over a list of names); main.bicep does not replace that list.
 */
export function tablesRule(t: Templates, required: readonly string[] = REQUIRED_TABLES): string[] {
  const problems: string[] = [];
  const p = parse(t, STORAGE);
  const tables = resources(p).filter(
    (r) => r.type === 'Microsoft.Storage/storageAccounts/tableServices/tables' && !r.existing,
  );
  const created = new Set<string>();
  for (const r of tables) {
    const value = r.node.namedChildren[r.node.namedChildren.length - 1];
    // `= if (…) {}` or a filtered loop `[for x in xs: if (…) {}]`.
    const filtered = r.loop && value?.namedChildren[value.namedChildren.length - 1]?.type === 'if_statement';
    if (r.conditional || filtered) {
      problems.push(`${STORAGE}: table resource ${r.symbol} must not be conditional`);
      continue;
    }
    if (r.loop && value) {
      const collection = value.namedChildren[value.namedChildren.length - 2];
      if (collection) for (const s of reachableStrings(p, collection)) created.add(s);
    } else {
      const name = stringLiteral(propertyAt(r.body, 'name'));
      if (name) created.add(name);
    }
  }
  for (const name of required) if (!created.has(name)) problems.push(`${STORAGE}: table '${name}' is not created`);
  const mod = modules(parse(t, MAIN)).find((m) => m.path === 'app/storage.bicep');
  if (mod?.body && propertyAt(mod.body, 'params.tableNames'))
    problems.push(`${MAIN}: module storage must not override tableNames (the module's list is the one checked)`);
  return problems;
}

// ---------------------------------------------------------------------------------------------------------------
// 14. Graph permissions for approver groups, only when approver groups are configured

export const APPROVER_GROUPS_PARAM = 'approverGroups';
/**
 * Application permissions to resolve APPROVER_GROUPS: GroupMember.Read.All, the least-privileged one for
 * GET /groups/{id}/transitiveMembers (https://learn.microsoft.com/graph/api/group-list-transitivemembers), and
 * User.ReadBasic.All so the members' mail and userPrincipalName are returned instead of null
 * (https://learn.microsoft.com/graph/permissions-overview#limited-information-returned-for-inaccessible-member-objects).
 */
export const APPROVER_GROUP_GRAPH_ROLES = ['GroupMember.Read.All', 'User.ReadBasic.All'] as const;

/** Whether `node` sits in the `then` branch of a ternary whose condition is exactly `!empty(<param>)`. */
function guardedByNonEmpty(node: SyntaxNode, param: string): boolean {
  for (let child = node, parent = node.parent; parent; child = parent, parent = parent.parent)
    if (parent.type === 'ternary_expression') {
      const [cond, yes] = parent.namedChildren;
      if (cond?.text.replace(/\s+/g, '') === `!empty(${param})` && yes?.startIndex === child.startIndex) return true;
    }
  return false;
}

/**
 * graph-permissions.bicep grants GroupMember.Read.All and User.ReadBasic.All only behind `!empty(approverGroups)`
 * (param defaulting to ''), the Graph assignment loop covers them, and main.bicep passes its approverGroups (the same
 * value the app gets as APPROVER_GROUPS); docs/deploy.md names both permissions.
 */
export function approverGroupsGraphRule(t: Templates): string[] {
  const problems: string[] = [];
  const graph = parse(t, GRAPH);
  const declared = params(graph).find((d) => d.name === APPROVER_GROUPS_PARAM);
  if (!declared || stringLiteral(declared.value) !== '')
    problems.push(`${GRAPH}: param ${APPROVER_GROUPS_PARAM} must exist and default to ''`);
  const assignments = resources(graph).find((r) => r.type === 'Microsoft.Graph/appRoleAssignedTo');
  const loop = assignments?.node.namedChildren[assignments.node.namedChildren.length - 1];
  const collection = loop?.type === 'for_statement' ? loop.namedChildren[loop.namedChildren.length - 2] : undefined;
  const looped = collection ? reachableStrings(graph, collection) : [];
  for (const role of APPROVER_GROUP_GRAPH_ROLES) {
    const found: SyntaxNode[] = [];
    const walk = (n: SyntaxNode) => {
      if (stringLiteral(n) === role) found.push(n);
      for (const c of n.namedChildren) walk(c);
    };
    walk(graph.root);
    if (found.length === 0 || !looped.includes(role))
      problems.push(`${GRAPH}: Graph app role ${role} is not granted for approver groups`);
    for (const n of found)
      if (!guardedByNonEmpty(n, APPROVER_GROUPS_PARAM))
        problems.push(
          `${GRAPH}:${n.startPosition.row + 1}: '${role}' must only be granted behind !empty(${APPROVER_GROUPS_PARAM}) ? … : …`,
        );
  }
  const mod = modules(parse(t, MAIN)).find((m) => m.path === 'app/graph-permissions.bicep');
  if (!mod?.body || propertyAt(mod.body, `params.${APPROVER_GROUPS_PARAM}`)?.text !== APPROVER_GROUPS_PARAM)
    problems.push(`${MAIN}: graph-permissions must get ${APPROVER_GROUPS_PARAM} from param ${APPROVER_GROUPS_PARAM}`);
  const apiMod = modules(parse(t, MAIN)).find((m) => m.path === 'app/api.bicep');
  if (!apiMod?.body || propertyAt(apiMod.body, `params.${APPROVER_GROUPS_PARAM}`)?.text !== APPROVER_GROUPS_PARAM)
    problems.push(`${MAIN}: api must get ${APPROVER_GROUPS_PARAM} from param ${APPROVER_GROUPS_PARAM}`);
  const doc = t[DEPLOY_DOC] ?? '';
  for (const role of APPROVER_GROUP_GRAPH_ROLES)
    if (!doc.includes(role)) problems.push(`${DEPLOY_DOC}: does not mention '${role}'`);
  return problems;
}

// ---------------------------------------------------------------------------------------------------------------
// Operator dashboard sign-in (App Service Authentication with Microsoft Entra ID, infra/app/auth.bicep)

export const AUTH = 'infra/app/auth.bicep';
/** The client secret setting name that makes Easy Auth use a managed identity's federated credential (Learn). */
export const FIC_SETTING = 'OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID';
export const DASHBOARD_SIGN_IN_VAR = 'dashboardSignIn';
export const DASHBOARD_AUTH_DOC_PHRASES = ['operator group', FIC_SETTING, 'EASY_AUTH_ENABLED', '/api/dashboard'];

/**
 * The dashboard's sign-in: one `authsettingsV2` in auth.bicep with the Entra provider enabled, no client secret (the
 * managed identity's federated credential through OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID), the tenant's v2.0 issuer,
 * the operator group as the only allowed principals, HTTPS required, and every request allowed through unauthenticated
 * (the API and the approval links need no sign-in; the dashboard refuses what Easy Auth did not authenticate, which it
 * does only with EASY_AUTH_ENABLED). main.bicep deploys auth.bicep, the auth identity and EASY_AUTH_ENABLED under the
 * same condition; api.bicep assigns the auth identity and sets both settings from it.
 */
export function dashboardAuthRule(t: Templates): string[] {
  const problems: string[] = [];
  const auth = parse(t, AUTH);
  const configs = resources(auth).filter(
    (r) =>
      r.type === 'Microsoft.Web/sites/config' &&
      !r.existing &&
      stringLiteral(propertyAt(r.body, 'name')) === 'authsettingsV2',
  );
  if (configs.length !== 1)
    return [`${AUTH}: expected one Microsoft.Web/sites/config 'authsettingsV2', found ${configs.length}`];
  const body = configs[0].body;
  const at = (p: string) => propertyAt(body, `properties.${p}`);
  if (booleanLiteral(at('platform.enabled')) !== true) problems.push(`${AUTH}: platform.enabled must be true`);
  if (booleanLiteral(at('globalValidation.requireAuthentication')) !== false)
    problems.push(
      `${AUTH}: globalValidation.requireAuthentication must be false (the API and approval links need no sign-in)`,
    );
  if (stringLiteral(at('globalValidation.unauthenticatedClientAction')) !== 'AllowAnonymous')
    problems.push(`${AUTH}: globalValidation.unauthenticatedClientAction must be 'AllowAnonymous'`);
  if (booleanLiteral(at('httpSettings.requireHttps')) !== true)
    problems.push(`${AUTH}: httpSettings.requireHttps must be true`);
  const aad = 'identityProviders.azureActiveDirectory';
  if (booleanLiteral(at(`${aad}.enabled`)) !== true) problems.push(`${AUTH}: the Entra provider must be enabled`);
  if (stringLiteral(at(`${aad}.registration.clientSecretSettingName`)) !== FIC_SETTING)
    problems.push(`${AUTH}: clientSecretSettingName must be ${FIC_SETTING} (a federated credential, no client secret)`);
  if (at(`${aad}.registration.clientSecretCertificateThumbprint`))
    problems.push(`${AUTH}: no certificate: the managed identity's federated credential signs in`);
  const issuer = at(`${aad}.registration.openIdIssuer`);
  if (!issuer || !issuer.text.endsWith("${tenantId}/v2.0'"))
    problems.push(`${AUTH}: openIdIssuer must be the tenant's v2.0 issuer (…/{tenantId}/v2.0)`);
  const policy = `${aad}.validation.defaultAuthorizationPolicy`;
  const groups = at(`${policy}.allowedPrincipals.groups`);
  if (!groups || groups.namedChildren.length !== 1 || groups.namedChildren[0].text !== 'operatorGroupObjectId')
    problems.push(`${AUTH}: allowedPrincipals.groups must be exactly [operatorGroupObjectId]`);
  if (at(`${policy}.allowedPrincipals.identities`))
    problems.push(`${AUTH}: allowedPrincipals must name only the group`);

  const main = parse(t, MAIN);
  const mods = modules(main);
  const authMod = mods.find((m) => m.path === 'app/auth.bicep');
  const condition = (m: ModuleDeclLike | undefined) =>
    m?.conditional ? m.node.namedChildren[m.node.namedChildren.length - 1].namedChildren[0]?.text : undefined;
  if (!authMod) problems.push(`${MAIN}: app/auth.bicep is not deployed`);
  else if (condition(authMod) !== `(${DASHBOARD_SIGN_IN_VAR})`)
    problems.push(`${MAIN}: app/auth.bicep must be deployed if (${DASHBOARD_SIGN_IN_VAR})`);
  const idMod = mods.find((m) => m.path === 'app/identity.bicep' && m.conditional);
  if (!idMod || condition(idMod) !== `(${DASHBOARD_SIGN_IN_VAR})`)
    problems.push(`${MAIN}: the auth identity must be deployed if (${DASHBOARD_SIGN_IN_VAR})`);
  const signIn = variables(main)
    .find((v) => v.name === DASHBOARD_SIGN_IN_VAR)
    ?.value?.text.replace(/\s+/g, '');
  if (signIn !== '!empty(dashboardAuthClientId)&&!empty(operatorGroupObjectId)')
    problems.push(`${MAIN}: ${DASHBOARD_SIGN_IN_VAR} must need both dashboardAuthClientId and operatorGroupObjectId`);
  if (authMod?.body && propertyAt(authMod.body, 'params.operatorGroupObjectId')?.text !== 'operatorGroupObjectId')
    problems.push(`${MAIN}: auth.bicep must get operatorGroupObjectId from the param`);
  const apiMod = mods.find((m) => m.path === 'app/api.bicep');
  for (const p of ['authIdentityId', 'authIdentityClientId'])
    if (
      !apiMod?.body ||
      !(propertyAt(apiMod.body, `params.${p}`)?.text ?? '').startsWith(`${idMod?.symbol ?? '?'}.?outputs.`)
    )
      problems.push(`${MAIN}: api must get ${p} from the auth identity module`);

  const api = parse(t, API);
  const { settings } = appSettings(api);
  const flag = settings.get('EASY_AUTH_ENABLED')?.text.replace(/\s+/g, '');
  if (flag !== "!empty(authIdentityClientId)?'true':'false'")
    problems.push(`${API}: EASY_AUTH_ENABLED must be 'true' exactly when the auth identity is given`);
  if (settings.get(FIC_SETTING)?.text !== 'authIdentityClientId')
    problems.push(`${API}: ${FIC_SETTING} must be the auth identity's client id`);
  const site = resources(api).find((r) => r.type === 'Microsoft.Web/sites' && !r.existing);
  if (
    !site?.body ||
    !identifiersIn(propertyAt(site.body, 'identity.userAssignedIdentities') ?? site.node).includes('authIdentityId')
  )
    problems.push(`${API}: the auth identity must be assigned to the Function App`);

  const doc = t[DEPLOY_DOC] ?? '';
  for (const phrase of DASHBOARD_AUTH_DOC_PHRASES)
    if (!doc.includes(phrase)) problems.push(`${DEPLOY_DOC}: does not mention '${phrase}'`);
  return problems;
}

type ModuleDeclLike = ReturnType<typeof modules>[number];
