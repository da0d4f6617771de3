/** Small helpers both orchestrators use (replay-safe: pure functions of their arguments). */
import type { AppSpec, IntegrationProfile } from '../profiles/types';

export const MINUTE = 60_000;

/** Durable wraps activity failures with the stack; a status keeps the first line (bounded). */
export function firstLine(message: string): string {
  const line = message.split('\n')[0]?.trim() ?? '';
  return line.length > 500 ? `${line.slice(0, 500)}…` : line;
}

/** The profile's app of `role`; a profile without it is a programming error, thrown as `fail(message)`. */
export function appSpec(profile: IntegrationProfile, role: string, fail: (message: string) => Error): AppSpec {
  const spec = profile.apps.find((a) => a.role === role);
  if (!spec) throw fail(`profile ${profile.id} has no app role ${role}`);
  return spec;
}
