import type { IntegrationRef } from '../contracts/provision';
import type { TicketRef } from '../registry/types';

export const ROTATION_ORCHESTRATOR = 'rotateCredentials';

export interface RotationSettings {
  secretLifetimeDays: number;
  /** Both secrets stay valid this long after every consumer confirmed, before the old one is removed. */
  graceMinutes: number;
  handoffReminderMinutes: number;
  handoffDeadlineMinutes: number;
  /** Proving the new secret yields a token: attempts and the wait between them (Entra propagation). */
  verifyAttempts: number;
  verifyRetrySeconds: number;
  /** Lifetime of a new certificate version (apps whose credential is a certificate); 12 when absent. */
  certificateValidityMonths?: number;
}

/** Input of `rotateCredentials`, built by the sweep, the on-demand endpoint or the Event Grid backstop. */
export interface RotationInput {
  ref: IntegrationRef;
  /** The due roles (every role of the profile when forced). */
  roles: string[];
  /** `rotate-YYYYMMDD` (the due date): marks the new credentials; also part of the instance id. */
  operation: string;
  reason: 'sweep' | 'on-demand' | 'near-expiry-event';
  approvers: string[];
  ticket?: TicketRef;
  settings: RotationSettings;
  endpoints: { authorityHost: string; instanceUrl: string };
}

export interface RotatedCredential {
  role: string;
  /** A client secret (keyIds of password credentials) or a certificate (keyIds of key credentials). */
  kind: 'secret' | 'certificate';
  oldKeyId: string;
  newKeyId: string;
  oldVersion: string;
  newVersion: string;
  expiresOn: string;
  /** True once the old credential was removed and its Key Vault version disabled. */
  oldRemoved: boolean;
}

export type RotationOutcome = 'rotated' | 'reconciled' | 'rolled-back' | 'failed';

export interface RotationStatus {
  integrationId: string;
  step: string;
  steps: { name: string; at: string }[];
  rotated: RotatedCredential[];
  /** Consumers confirmed per role (API updates and hand-off confirmations). */
  confirmed: Record<string, string[]>;
  awaiting?: { role: string; approvers: string[]; deadline: string; reminders: number };
  outcome?: RotationOutcome;
  error?: string;
  orphans: { what: string; id: string; reason: string }[];
  /** Roles with nothing to rotate (a federated credential stores nothing). */
  skipped?: { role: string; reason: string }[];
}
