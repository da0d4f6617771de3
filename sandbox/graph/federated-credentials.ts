/**
 * `/applications/{id}/federatedIdentityCredentials`: create, list, get (by id or by `(name='…')`), update, delete.
 *
 * Sources (microsoftgraph/microsoft-graph-docs-contrib, api-reference/v1.0): resources/federatedidentitycredential.md
 * (name unique per application, immutable, at most 120 characters; issuer and subject required, their combination
 * unique per application; audiences required, one value), resources/federatedidentitycredentials-overview.md ("A
 * maximum of 20 federated identity credentials can be added to an application"), api/application-post-
 * federatedidentitycredentials.md (201), api/federatedidentitycredential-update.md and -delete.md (204).
 *
 * Errors as Graph answers them: a duplicate name 409 `Request_MultipleObjectsWithSameKeyValue` "FederatedIdentityCredential
 * with name {name} already exists." (Azure/azure-dev#1482); a duplicate issuer + subject 400
 * `InvalidFederatedIdentityCredentialValue` "The combination of issuer and subject must be unique for the application. …"
 * (Azure/azure-workload-identity#434). The wording of the limit and of the audiences checks is [inferred].
 */
import type { SandboxResponse } from '../core/types';
import { newGuid } from '../core/random';
import type { Application, FederatedIdentityCredential } from '../directory';
import { canRead, canWriteOwned, mayModify } from './auth';
import {
  GraphError,
  emptyResponse,
  insufficientPrivileges,
  invalidValue,
  jsonResponse,
  notFound,
  unknownProperty,
} from './errors';
import { type AppKey, type Env, type Json, jsonBody } from './env';

export const MAX_FEDERATED_CREDENTIALS = 20;
const MAX_NAME_LENGTH = 120;
const PROPERTIES = ['id', 'name', 'issuer', 'subject', 'audiences', 'description'];

type Resolve = (env: Env, key: AppKey) => Application;

/** `{id}` or `(name='…')` of a credential segment. */
export type FicKey = { kind: 'id' | 'name'; value: string };

export function ficJson(c: FederatedIdentityCredential): Record<string, unknown> {
  return {
    id: c.id,
    name: c.name,
    issuer: c.issuer,
    subject: c.subject,
    description: c.description,
    audiences: [...c.audiences],
  };
}

const invalidFic = (message: string) => new GraphError(400, 'InvalidFederatedIdentityCredentialValue', message);

function readBody(body: Json, forCreate: boolean): Partial<FederatedIdentityCredential> {
  const out: Partial<FederatedIdentityCredential> = {};
  for (const [k, v] of Object.entries(body)) {
    if (k.startsWith('@')) continue;
    if (!PROPERTIES.includes(k)) throw unknownProperty(k, 'microsoft.graph.federatedIdentityCredential');
    if (k === 'id') continue;
    if (k === 'audiences') {
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
        throw invalidValue('audiences', 'Collection(Edm.String)');
      out.audiences = [...v];
    } else if (k === 'description') {
      if (v !== null && typeof v !== 'string') throw invalidValue(k, 'Edm.String');
      out.description = v;
    } else {
      if (typeof v !== 'string') throw invalidValue(k, 'Edm.String');
      (out as Record<string, unknown>)[k] = v;
    }
  }
  if (forCreate && (!out.name || !out.issuer || !out.subject || !out.audiences))
    throw new GraphError(
      400,
      'Request_BadRequest',
      "Federated Identity Credential must specify 'name', 'issuer', 'subject' and 'audiences'.",
    );
  if (out.name !== undefined && (out.name.length === 0 || out.name.length > MAX_NAME_LENGTH))
    throw invalidFic(`The name of a federated identity credential must have 1 to ${MAX_NAME_LENGTH} characters.`);
  if (out.issuer !== undefined && out.issuer === '') throw invalidFic('The issuer must not be empty.');
  if (out.subject !== undefined && out.subject === '') throw invalidFic('The subject must not be empty.');
  if (out.audiences !== undefined && (out.audiences.length !== 1 || out.audiences[0] === ''))
    throw invalidFic('A federated identity credential must have exactly one audience.');
  return out;
}

function checkUnique(app: Application, c: FederatedIdentityCredential): void {
  const other = app.federatedIdentityCredentials.find(
    (x) => x.id !== c.id && x.issuer === c.issuer && x.subject === c.subject,
  );
  if (other)
    throw invalidFic(
      `The combination of issuer and subject must be unique for the application. Issuer ${c.issuer} and Subject: ${c.subject} already exist. paramName: FederatedIdentityCredential.Subject, paramValue: ${c.subject}, objectType: Microsoft.Online.DirectoryServices.Application`,
    );
}

function find(app: Application, key: FicKey): FederatedIdentityCredential {
  const c = app.federatedIdentityCredentials.find((x) =>
    key.kind === 'id' ? x.id.toLowerCase() === key.value.toLowerCase() : x.name === key.value,
  );
  if (!c) throw notFound(key.value);
  return c;
}

const collectionContext = (env: Env, app: Application) =>
  `${env.origin}/v1.0/$metadata#applications('${app.id}')/federatedIdentityCredentials`;

function writable(env: Env, key: AppKey, resolve: Resolve): Application {
  if (!canWriteOwned(env.caller)) throw insufficientPrivileges();
  const app = resolve(env, key);
  if (!mayModify(env.caller, app.owners)) throw insufficientPrivileges();
  return app;
}

export function listFics(env: Env, key: AppKey, resolve: Resolve): SandboxResponse {
  if (!canRead(env.caller)) throw insufficientPrivileges();
  const app = resolve(env, key);
  return jsonResponse(env.ids, 200, {
    '@odata.context': collectionContext(env, app),
    value: app.federatedIdentityCredentials.map(ficJson),
  });
}

export function postFic(env: Env, key: AppKey, resolve: Resolve): SandboxResponse {
  const body = jsonBody(env);
  const app = writable(env, key, resolve);
  const input = readBody(body, true);
  if (app.federatedIdentityCredentials.some((x) => x.name === input.name))
    throw new GraphError(
      409,
      'Request_MultipleObjectsWithSameKeyValue',
      `FederatedIdentityCredential with name ${input.name} already exists.`,
    );
  const c: FederatedIdentityCredential = {
    id: newGuid(),
    name: input.name as string,
    issuer: input.issuer as string,
    subject: input.subject as string,
    audiences: input.audiences as string[],
    description: input.description ?? null,
  };
  checkUnique(app, c);
  if (app.federatedIdentityCredentials.length >= MAX_FEDERATED_CREDENTIALS)
    throw invalidFic(
      `The application already has the maximum number of federated identity credentials (${MAX_FEDERATED_CREDENTIALS}).`,
    );
  app.federatedIdentityCredentials.push(c);
  return jsonResponse(env.ids, 201, { '@odata.context': `${collectionContext(env, app)}/$entity`, ...ficJson(c) });
}

export function getFic(env: Env, key: AppKey, fic: FicKey, resolve: Resolve): SandboxResponse {
  if (!canRead(env.caller)) throw insufficientPrivileges();
  const app = resolve(env, key);
  return jsonResponse(env.ids, 200, {
    '@odata.context': `${collectionContext(env, app)}/$entity`,
    ...ficJson(find(app, fic)),
  });
}

/** PATCH → 204; `name` cannot change [doc resources/federatedidentitycredential]. */
export function patchFic(env: Env, key: AppKey, fic: FicKey, resolve: Resolve): SandboxResponse {
  const body = jsonBody(env);
  const app = writable(env, key, resolve);
  const current = find(app, fic);
  const input = readBody(body, false);
  if (input.name !== undefined && input.name !== current.name)
    throw new GraphError(400, 'Request_BadRequest', "Property 'name' is read-only and cannot be changed.");
  const next: FederatedIdentityCredential = { ...current, ...input, id: current.id, name: current.name };
  checkUnique(app, next);
  Object.assign(current, next);
  return emptyResponse(env.ids, 204);
}

export function deleteFic(env: Env, key: AppKey, fic: FicKey, resolve: Resolve): SandboxResponse {
  const app = writable(env, key, resolve);
  const current = find(app, fic);
  app.federatedIdentityCredentials = app.federatedIdentityCredentials.filter((x) => x !== current);
  return emptyResponse(env.ids, 204);
}
