/**
 * The alert sweep (timer `alertSweep`, NCRONTAB from ALERT_SCHEDULE, hourly by default): evaluates the alerts of every
 * integration (src/alerts/evaluate.ts), with the durable client, so overdue approvals and hand-offs are seen too.
 * Deliveries that failed are logged (channel and reason only; never a URL or a secret) and retried on the next run.
 */
import type { InvocationContext, Timer } from '@azure/functions';
import type { DurableClient } from 'durable-functions';

import { evaluateAll, type AlertDeps } from '../alerts/evaluate';
import { getDeps } from '../app/deps';
import { redactText } from '../lib/redact';

export function createAlertHandlers(deps: () => AlertDeps = getDeps) {
  return {
    sweep: async (_timer: Timer, client: DurableClient, ctx: InvocationContext): Promise<void> => {
      const { evaluations, problems } = await evaluateAll(deps(), client);
      let sent = 0;
      for (const e of evaluations) {
        sent += e.sent.length;
        for (const s of e.sent) ctx.log(`alert ${s.state} ${s.condition} of ${e.integrationId} sent by ${s.channel}`);
        for (const f of e.failed)
          ctx.warn(
            redactText(
              `alert ${f.state} ${f.condition} of ${e.integrationId} not delivered by ${f.channel}: ${f.reason}`,
            ),
          );
      }
      for (const p of problems) ctx.warn(redactText(`alert sweep ${p.integrationId}: ${p.reason}`));
      ctx.log(
        `alert sweep: ${evaluations.length} integrations evaluated, ${sent} alert(s) sent, ${problems.length} problem(s)`,
      );
    },
  };
}
