import type { InspectCredentialsInput, InspectCredentialsResult } from '../activities/inspect-credentials';
import {
  ROTATION_ACTIVITY,
  type HandoffRequestInput,
  type HandoffRequestResult,
  type RetireCredentialInput,
  type RetireCredentialResult,
  type RollbackRotationInput,
  type RollbackRotationResult,
  type SetServiceNowSecretInput,
  type SetServiceNowSecretResult,
  type VerifyCredentialInput,
  type VerifyCredentialResult,
} from '../activities/rotation-contracts';
import type { Activity } from './calls';

const activity = <I, O>(name: string): Activity<I, O> => ({ name });

export const INSPECT_CREDENTIALS = 'inspectCredentials';

/** Typed handles of the rotation activities. */
export const rotationActivities = {
  inspectCredentials: activity<InspectCredentialsInput, InspectCredentialsResult>(INSPECT_CREDENTIALS),
  verifyCredential: activity<VerifyCredentialInput, VerifyCredentialResult>(ROTATION_ACTIVITY.verifyCredential),
  setServiceNowSecret: activity<SetServiceNowSecretInput, SetServiceNowSecretResult>(
    ROTATION_ACTIVITY.setServiceNowSecret,
  ),
  sendHandoffRequests: activity<HandoffRequestInput, HandoffRequestResult>(ROTATION_ACTIVITY.sendHandoffRequests),
  retireCredential: activity<RetireCredentialInput, RetireCredentialResult>(ROTATION_ACTIVITY.retireCredential),
  rollbackRotation: activity<RollbackRotationInput, RollbackRotationResult>(ROTATION_ACTIVITY.rollbackRotation),
} as const;
