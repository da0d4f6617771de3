/** Renders `{placeholder}` templates of an integration profile; an unknown placeholder is an error, never blank. */
export type TemplateValues = Record<string, string | undefined>;

const PLACEHOLDER = /\{([A-Za-z][A-Za-z0-9_.]*)\}/g;

export class TemplateError extends Error {
  constructor(
    readonly template: string,
    readonly missing: string[],
  ) {
    super(`template "${template}" has no value for ${missing.map((m) => `{${m}}`).join(', ')}`);
    this.name = 'TemplateError';
  }
}

export function renderTemplate(template: string, values: TemplateValues): string {
  const missing: string[] = [];
  const out = template.replace(PLACEHOLDER, (_m, name: string) => {
    const v = values[name];
    if (v === undefined) {
      missing.push(name);
      return '';
    }
    return v;
  });
  if (missing.length) throw new TemplateError(template, missing);
  return out;
}

/** The placeholders a template uses. */
export function placeholders(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1]);
}

export function renderRecord(fields: Record<string, string>, values: TemplateValues): Record<string, string> {
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, renderTemplate(v, values)]));
}
