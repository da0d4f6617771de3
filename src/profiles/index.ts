import { m365SupportAad } from './m365-support-aad';
import type { IntegrationProfile } from './types';

export type { IntegrationProfile } from './types';

/** Every profile the product knows, by id. A second profile is added here. */
export const PROFILES: Readonly<Record<string, IntegrationProfile>> = {
  [m365SupportAad.id]: m365SupportAad,
};

export const DEFAULT_PROFILE_ID = m365SupportAad.id;

export function getProfile(id: string): IntegrationProfile | undefined {
  return Object.hasOwn(PROFILES, id) ? PROFILES[id] : undefined;
}
