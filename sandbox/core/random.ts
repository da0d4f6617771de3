import { randomBytes, randomUUID } from 'node:crypto';

/** Seeded PRNG (mulberry32) for reproducible fault probabilities. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const newGuid = (): string => randomUUID();

/** A ServiceNow-style sys_id: 32 lower-case hex characters. */
export const newSysId = (): string => randomBytes(16).toString('hex');
