/**
 * Sending one email through Microsoft Graph `POST /users/{sender}/sendMail`
 * (https://learn.microsoft.com/graph/api/user-sendmail): app-only, from the configured mailbox, answered 202 with an
 * empty body (graph-client returns the raw stream for it, so graphRaw is used and the status asserted).
 * `saveToSentItems` is sent as a boolean.
 */
import type { Client } from '@microsoft/microsoft-graph-client';

import { graphRaw } from '../clients/graph';
import { ExternalServiceError } from '../lib/errors';

export interface OutgoingMail {
  /** One address, or several: one message with every address in `toRecipients`. */
  to: string | readonly string[];
  subject: string;
  /** Complete HTML document (escaped by the composer). */
  html: string;
}

export async function sendMail(graph: Client, sender: string, mail: OutgoingMail): Promise<void> {
  const res = await graphRaw(graph, 'POST', `/users/${encodeURIComponent(sender)}/sendMail`, {
    message: {
      subject: mail.subject,
      body: { contentType: 'HTML', content: mail.html },
      toRecipients: (typeof mail.to === 'string' ? [mail.to] : mail.to).map((address) => ({
        emailAddress: { address },
      })),
    },
    saveToSentItems: false,
  });
  if (res.status !== 202)
    throw new ExternalServiceError({
      service: 'graph',
      status: res.status,
      message: `Graph sendMail answered ${res.status}, expected 202`,
      retriable: false,
    });
}
