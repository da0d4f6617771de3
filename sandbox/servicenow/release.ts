/**
 * ServiceNow family releases, oldest first (https://www.servicenow.com/docs: one documentation branch per family;
 * ServiceNow/ServiceNowDocs has `xanadu`, `yokohama`, `zurich`, `australia`, `brazil`). Each sandbox instance runs
 * one release; what a release lacks (a table, a column, a choice) is absent from its schema and its sys_db_object /
 * sys_dictionary / sys_choice rows, as on a real instance of that release.
 */
export const RELEASES = ['vancouver', 'washingtondc', 'xanadu', 'yokohama', 'zurich', 'australia', 'brazil'] as const;

export type Release = (typeof RELEASES)[number];

/** What an instance runs unless configured otherwise: the newest release. */
export const NEWEST_RELEASE: Release = 'brazil';

export const isRelease = (v: string): v is Release => (RELEASES as readonly string[]).includes(v);

/** True when `release` has what came with `since` (undefined: every release). */
export const releaseHas = (release: Release, since: Release | undefined): boolean =>
  since === undefined || RELEASES.indexOf(release) >= RELEASES.indexOf(since);
