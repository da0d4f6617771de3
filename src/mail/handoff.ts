/**
 * The hand-off email of a rotation (step d of docs/reference/rotation.md#requirements): a consumer without an API (the
 * Microsoft 365 admin center) must be updated by a person. The email names the exact place and field, and the Key Vault
 * secret NAME and VERSION to copy the value from (never the value: secret values never appear in emails,
 * docs/reference/rotation.md#consumers-without-an-api), and carries one personal "Done" link to the approval endpoint,
 * whose GET only renders a confirmation (mail scanners prefetch links,
 * docs/reference/durable-functions.md#emailed-links-get-renders-post-decides); the confirmation is a POST from that
 * page.
 */
import type { HandoffRequestInput } from '../contracts/rotation';
import { html } from './html';
import { code, document, STYLE, table } from './layout';

export interface HandoffMailInput {
  request: HandoffRequestInput;
  approver: string;
  /** The vault the secret is in (its URL; not secret). */
  vaultUrl: string;
  /** `${publicBaseUrl}/api/approvals/{instanceId}?token=…`: only ever in the email body. */
  doneUrl: string;
}

/** The vault's name: the first label of its host (https://{name}.vault.azure.net). */
export function vaultNameOf(vaultUrl: string): string {
  try {
    return new URL(vaultUrl).hostname.split('.')[0];
  } catch {
    return vaultUrl;
  }
}

export function handoffMail(m: HandoffMailInput): { subject: string; html: string } {
  const r = m.request;
  const reminder = r.round > 0;
  const { secretName, version } = r.secret;
  const subject = `${reminder ? 'Reminder: ' : ''}Update the ${r.role} client secret of ServiceNow integration ${r.integrationId}`;
  const body = html`<h1>
      ${reminder ? 'Reminder: a secret still needs updating' : 'Action needed: update a client secret'}
    </h1>
    <p>
      The client secret of the ${code(r.role)} app of the integration ${code(r.integrationId)} (Microsoft Entra tenant
      ${code(r.tenant)}, ${r.tenantName}; ServiceNow instance ${code(r.serviceNowInstance)}) is being rotated. The old
      secret keeps working until every place below has the new one, so nothing breaks while you do this. Please update
      it before ${r.expiresAt}.
    </p>
    <h2>1. Copy the new secret from Key Vault</h2>
    ${table(['Key Vault', 'Secret name', 'Version'], [[code(m.vaultUrl), code(secretName), code(version)]])}
    <p>
      For example:
      ${code(`az keyvault secret show --vault-name ${vaultNameOf(m.vaultUrl)} --name ${secretName} --version ${version} --query value -o tsv`)}
      . Copy exactly this version, not an older one. The value is never sent by email.
    </p>
    <h2>2. Paste it here</h2>
    ${table(
      ['Where', 'Field'],
      r.consumers.map((c) => [c.where, code(c.field)]),
    )}
    <h2>3. Confirm</h2>
    <p><a href="${m.doneUrl}" style="${STYLE.button}">Done: I updated it</a></p>
    <p>
      The link opens a page where you confirm; opening it confirms nothing. It is personal to ${code(m.approver)}: do
      not forward it. The old secret is removed only after the update is confirmed and a grace period has passed.
    </p>`;
  return { subject, html: document(subject, body) };
}
