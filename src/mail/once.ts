/**
 * At most one email per (instance, kind, round, recipient), also when an activity runs twice or concurrently with
 * itself after a host restart (durable activities are at-least-once): a "sent" marker is claimed in the approvals
 * table with a conditional create before sending, completed after, and dropped when the send fails.
 */
import type { Client } from '@microsoft/microsoft-graph-client';

import type { ApprovalTokenStore, SendKey } from '../approvals/tokens';
import { AppError } from '../lib/errors';
import { sendMail, type OutgoingMail } from './message';

/** Another run holds a fresh claim on the same email: retry later (the orchestrator's durable retry). */
export class SendInProgressError extends AppError {
  constructor() {
    super('another run is sending the same email; retry later', 'SendInProgress');
  }
}

export interface SendOnceDeps {
  graph: Client;
  sender: string;
  markers: ApprovalTokenStore;
}

export type SendOnceResult = { sent: boolean; tokenId?: string };

/** `compose` runs only when this run owns the claim (it may issue a token; the tokenId is kept on the marker). */
export async function sendOnce(
  deps: SendOnceDeps,
  key: SendKey,
  compose: () => Promise<{ mail: OutgoingMail; tokenId?: string }>,
): Promise<SendOnceResult> {
  const claim = await deps.markers.claimSend(key);
  if (claim.state === 'sent') return { sent: false, ...(claim.tokenId ? { tokenId: claim.tokenId } : {}) };
  if (claim.state === 'busy') throw new SendInProgressError();
  let tokenId: string | undefined;
  try {
    const composed = await compose();
    tokenId = composed.tokenId;
    await sendMail(deps.graph, deps.sender, composed.mail);
  } catch (err) {
    await deps.markers.abandonSend(key).catch(() => undefined);
    throw err;
  }
  await deps.markers.completeSend(key, tokenId);
  return { sent: true, ...(tokenId ? { tokenId } : {}) };
}

export const normaliseAddress = (address: string): string => address.trim().toLowerCase();
