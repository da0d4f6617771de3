/**
 * The registered integration profiles. A profile is one module of typed data (./types.ts); registering it here is
 * the only other change a new profile needs: the edge validation, the approver's plan, preflight, provisioning,
 * rotation, `GET /api/profiles`, the sandbox's seed and the consumer probe all read it from this registry.
 */
import { copilotServiceNowFederated } from './copilot-servicenow-federated';
import { entraIdSpoke } from './entra-id-spoke';
import { m365SupportAad } from './m365-support-aad';
import type { IntegrationProfile } from './types';
import { profileProblems } from './validate';

export type { IntegrationProfile } from './types';

const registry = new Map<string, IntegrationProfile>();

/**
 * Adds a profile after checking it (every problem listed); a profile id is registered once. Returns the function that
 * takes it out again (tests register profiles of their own for the length of a suite).
 */
export function registerProfile(profile: IntegrationProfile): () => void {
  if (registry.has(profile.id)) throw new Error(`profile ${profile.id} is already registered`);
  const problems = profileProblems(profile);
  if (problems.length) throw new Error(`profile ${profile.id} is invalid:\n- ${problems.join('\n- ')}`);
  registry.set(profile.id, profile);
  return () => {
    if (registry.get(profile.id) === profile) registry.delete(profile.id);
  };
}

// The profiles the product ships.
registerProfile(m365SupportAad);
registerProfile(entraIdSpoke);
registerProfile(copilotServiceNowFederated);

export const DEFAULT_PROFILE_ID = m365SupportAad.id;

export function getProfile(id: string): IntegrationProfile | undefined {
  return registry.get(id);
}

export function profileIds(): string[] {
  return [...registry.keys()];
}

export function allProfiles(): IntegrationProfile[] {
  return [...registry.values()];
}
