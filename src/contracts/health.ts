/**
 * Contracts of the daily health and drift check (src/orchestrators/check-health.ts) and its read-only activities.
 * Everything here is stored in orchestration history: ids, names, versions, column values of non-secret ServiceNow
 * fields and credential key ids and dates, never a secret value.
 */
import type { AppCredentialState } from '../registry/types';
import type { HealthFinding } from './fleet';
import type { ExpectedRecord, IntegrationRef } from './provision';
import type { ProvisionInput } from '../orchestrators/provision-types';
import type { IntegrationStatus } from '../registry/types';

export const HEALTH_ORCHESTRATOR = 'checkIntegrationHealth';

export interface HealthInput {
  /** `instanceId` is the health check's own instance id. */
  ref: IntegrationRef;
  /**
   * The input of the integration's last provisioning run that went live: the approved plan's values are rendered
   * from it, and a repair re-runs it.
   */
  provision: ProvisionInput;
  /** After the check, put drifted records and grants back through the provisioning path. */
  repair: boolean;
  reason: 'daily' | 'on-demand';
  /**
   * With `repair`: the re-provisioning run a repair starts, prepared by the starter as `POST /api/integrations?
   * reprovision=true` would (the last run's input under the next run's instance id, with what the registry recorded:
   * approval, applied digest, earlier apps and records), and the run the registry row names now.
   */
  repairRun?: { input: ProvisionInput; run: number; expectInstanceId: string };
}

/** The registry row as the check found it (read-only activity `readIntegration`). */
export interface IntegrationSnapshot {
  found: boolean;
  status?: IntegrationStatus;
  apps: Record<
    string,
    {
      appId: string;
      objectId: string;
      secretName: string;
      secretVersion?: string;
      keyId?: string;
      credential?: AppCredentialState['credential'];
    }
  >;
  serviceNow: Record<string, string>;
  /** The findings of the last check, to tell new findings from persisting ones. */
  previous: HealthFinding[];
  lastGoodAt?: string;
  /** The provisioning run named on the row (a repair starts the next one). */
  instanceId?: string;
  runs?: number;
}

// ---------------------------------------------------------------------------------------------------------------
// inspectEntra: the apps, their credentials and the Key Vault versions (read-only)

export interface InspectEntraInput extends IntegrationRef {
  apps: {
    role: string;
    /** A first-party service principal the integration uses but does not own (no application object). */
    existing?: boolean;
    appId: string;
    objectId: string;
    secretName?: string;
    secretVersion?: string;
    keyId?: string;
    /** A federated identity credential the registry recorded (workload identity federation): compared as it is now. */
    federated?: { name: string; issuer: string; subject: string };
  }[];
}

export interface ObservedCredential {
  keyId: string;
  type: 'password' | 'key';
  displayName?: string;
  endDateTime?: string;
}

export interface ObservedApp {
  role: string;
  /** False when the application (or for an existing app, its service principal) is gone. */
  exists: boolean;
  appId?: string;
  servicePrincipalId?: string;
  credentials: ObservedCredential[];
  /**
   * Key ids the product recorded as its own for this app: the registry's keyId and the `keyId` tag of every Key Vault
   * version of the app's secret (during a rotation both the old and the new key are ours).
   */
  ownKeyIds: string[];
  /** The Key Vault version the registry names. */
  secret?: { name: string; version: string; found: boolean; enabled?: boolean; expiresOn?: string };
  /** The federated identity credential the registry names, as Graph has it now (absent: not found). */
  federated?: {
    name: string;
    expected: { issuer: string; subject: string };
    found?: { issuer: string; subject: string; audiences: string[] };
  };
  /**
   * Federated identity credentials on the app other than the one the registry names: each lets its issuer's tokens
   * act as the app (https://learn.microsoft.com/graph/api/resources/federatedidentitycredential).
   */
  otherFederated?: { id: string; name: string; issuer: string; subject: string }[];
}
export interface InspectEntraResult {
  apps: ObservedApp[];
}

// ---------------------------------------------------------------------------------------------------------------
// inspectServiceNow: the records and role grants of the plan, as they are now (read-only)

export interface InspectServiceNowInput extends IntegrationRef {
  records: (ExpectedRecord & { sysId: string })[];
  /** Grants of the plan. */
  grants: { userName: string; role: string }[];
  /** The integration's own users (whose other roles are reported). */
  ownUsers: string[];
}
export interface ObservedRecord {
  key: string;
  found: boolean;
  values: Record<string, string>;
}
export interface InspectServiceNowResult {
  records: ObservedRecord[];
  /** Role names held now (directly, active, not inherited) by each user of `grants` and `ownUsers`. */
  roles: Record<string, string[]>;
  /** Users of `grants`/`ownUsers` not found (sys_user by user_name). */
  missingUsers: string[];
}

export interface HealthResult {
  integrationId: string;
  instanceId: string;
  ok: boolean;
  findings: HealthFinding[];
  /** Subjects new since the last check, and subjects that cleared. */
  found: string[];
  cleared: string[];
  /** Set with `repair`: the provisioning run that put things back and what the check after it found. */
  repair?: { instanceId: string; outcome: string; remaining: HealthFinding[] };
  /** Why the check could not run (unknown integration, no provisioning input). */
  skipped?: string;
  /** The alert evaluation at the end failed (the hourly alert sweep tries again). */
  alertError?: string;
}
