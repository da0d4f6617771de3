/**
 * Inputs for the page and email tests: a token record, and approval plans built by the real plan builder from the
 * seed profile, with ordinary values or with hostile ones (markup, quotes, ampersands) in every free-text field.
 */
import type { ApprovalPlan, ApprovalRequestInput } from '../../src/contracts/provision';
import { buildPlan, type PlanInput } from '../../src/approvals/plan';
import type { TokenRecord } from '../../src/approvals/tokens';
import { m365SupportAad } from '../../src/profiles/m365-support-aad';

export const PUBLIC = 'https://approvals.example.com';
export const TENANT_ID = '11111111-2222-3333-4444-555555555555';
export const INSTANCE = 'dev12345';
export const HOSTILE = `<script>alert("x")</script> & "quoted" 'single' <img src=x onerror=alert(1)>`;

export const record = (over: Partial<TokenRecord> = {}): TokenRecord => ({
  tokenId: 'abc123',
  instanceId: 'provision-sn-dev12345-0a1b2c3d',
  approver: 'ann@contoso.com',
  purpose: 'approval',
  eventName: 'ApprovalDecision',
  expiresAt: '2031-01-02T03:04:05.000Z',
  subject: 'sn-dev12345-0a1b2c3d',
  ...over,
});

export function planInput(over: { tenantName?: string; requestedBy?: string[]; userName?: string } = {}): PlanInput {
  const integrationId = 'sn-dev12345-0a1b2c3d';
  const instanceUrl = `https://${INSTANCE}.service-now.com`;
  const uniqueNames = Object.fromEntries(m365SupportAad.apps.map((a) => [a.role, `${integrationId}-${a.role}`]));
  return {
    profile: m365SupportAad,
    integrationId,
    tenantId: TENANT_ID,
    tenantName: over.tenantName ?? 'Contoso',
    tenantDomain: 'contoso.onmicrosoft.com',
    serviceNowInstance: INSTANCE,
    instanceUrl,
    values: {
      tenant: 'contoso.onmicrosoft.com',
      tenantId: TENANT_ID,
      tenantDomain: 'contoso.onmicrosoft.com',
      tenantName: over.tenantName ?? 'Contoso',
      instance: INSTANCE,
      instanceUrl,
      authorityHost: 'https://login.microsoftonline.com',
      integrationId,
      redirectUri: `${instanceUrl}/auth_redirect.do`,
      scopeSysId: '0123456789abcdef0123456789abcdef',
      testEnvironment: 'No',
      'apps.outbound.appId': 'aaaaaaaa-0000-4000-8000-000000000001',
      'apps.restApi.appId': 'aaaaaaaa-0000-4000-8000-000000000002',
      'apps.outbound.secretName': `${integrationId}-outbound`,
      'apps.restApi.secretName': `${integrationId}-restapi`,
      'apps.restUser.secretName': `${integrationId}-restuser`,
    },
    uniqueNames,
    grantUsers: [{ userName: over.userName ?? 'jane.doe', role: 'itil' }],
    ipAllowlist: true,
    requestedBy: over.requestedBy ?? ['requester@contoso.com'],
  };
}

export const plan = (): ApprovalPlan => buildPlan(planInput());

/** A plan whose every free-text field (and a few ids) holds markup, quotes and ampersands. */
export function hostilePlan(): ApprovalPlan {
  const p = buildPlan(planInput({ tenantName: HOSTILE, requestedBy: [HOSTILE], userName: HOSTILE }));
  return {
    ...p,
    integrationId: HOSTILE,
    profile: { id: HOSTILE, title: HOSTILE },
    tenant: { ...p.tenant, id: HOSTILE, domain: HOSTILE },
    serviceNow: { instance: HOSTILE, url: HOSTILE },
    apps: p.apps.map((a) => ({ ...a, displayName: HOSTILE, purpose: HOSTILE, redirectUris: [HOSTILE] })),
    trust: p.trust.map((t) => ({ ...t, statement: HOSTILE })),
    records: [...p.records, { key: HOSTILE, table: HOSTILE, values: { [HOSTILE]: HOSTILE } }],
    privileges: p.privileges.map((x) => ({ ...x, operation: HOSTILE, target: HOSTILE })),
    ipRules: [HOSTILE],
    manualSteps: [{ title: HOSTILE, actor: HOSTILE }],
  };
}

/** An approval request as the orchestrator sends it (no plan unless given). */
export function approvalRequest(over: Partial<ApprovalRequestInput> = {}): ApprovalRequestInput {
  return {
    integrationId: 'sn-dev12345-0a1b2c3d',
    instanceId: 'provision-sn-dev12345-0a1b2c3d',
    profileId: 'm365-support-aad',
    tenant: 'contoso.onmicrosoft.com',
    tenantName: 'Contoso',
    serviceNowInstance: INSTANCE,
    requesters: [],
    quorum: 1,
    planDigest: 'f'.repeat(64),
    expiresAt: '2031-01-02T03:04:05.000Z',
    round: 0,
    apps: [],
    secrets: [],
    records: [],
    manualActions: [],
    ...over,
  };
}
