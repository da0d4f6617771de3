import type { InvocationContext } from '@azure/functions';

import { createLogger } from '../lib/logger';
import { redactText } from '../lib/redact';

/** Where an activity logs: the Functions InvocationContext in production, nothing or a fake in tests. */
export type ActivityLog = Pick<InvocationContext, 'info' | 'warn'>;

const fallbackLogger = createLogger('activities');

/** Logs one line (redacted) to the invocation context, or to the module logger when there is none. */
export function logLine(log: ActivityLog | undefined, level: 'info' | 'warn', message: string): void {
  const safe = redactText(message);
  if (log) log[level](safe);
  else fallbackLogger[level](safe);
}
