/**
 * Functions route templates (ASP.NET Core routing syntax as the Functions host uses it):
 * https://learn.microsoft.com/azure/azure-functions/functions-bindings-http-webhook-trigger#customize-the-http-endpoint
 * Literal segments match case-insensitively; `{name}`, `{name?}`, `{name:constraint}`, `{*rest}`; constraints alpha,
 * int, long, bool, guid, minlength(n), maxlength(n), length(n).
 */
export interface RouteTemplate {
  template: string;
  /** Per-segment specificity (literal 4, constrained 3, parameter 2, optional 1, catch-all 0), for route precedence. */
  precedence: number[];
  match(path: string): Record<string, string> | undefined;
}

type Segment =
  | { kind: 'literal'; text: string }
  | {
      kind: 'param';
      name: string;
      optional: boolean;
      catchAll: boolean;
      constrained: boolean;
      test: (v: string) => boolean;
    };

const GUID =
  /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$|^\{[0-9a-f-]{36}\}$|^\([0-9a-f-]{36}\)$/i;

function constraint(spec: string, template: string): (v: string) => boolean {
  const m = /^(\w+)(?:\((\d+)\))?$/.exec(spec);
  const n = m?.[2] === undefined ? NaN : Number(m[2]);
  switch (m?.[1]?.toLowerCase()) {
    case 'alpha':
      return (v) => /^[a-z]+$/i.test(v);
    case 'int':
      return (v) => /^-?\d+$/.test(v) && Math.abs(Number(v)) <= 2_147_483_648;
    case 'long':
      return (v) => /^-?\d+$/.test(v);
    case 'bool':
      return (v) => /^(true|false)$/i.test(v);
    case 'guid':
      return (v) => GUID.test(v);
    case 'minlength':
      if (!Number.isNaN(n)) return (v) => v.length >= n;
      break;
    case 'maxlength':
      if (!Number.isNaN(n)) return (v) => v.length <= n;
      break;
    case 'length':
      if (!Number.isNaN(n)) return (v) => v.length === n;
      break;
  }
  throw new Error(`route '${template}': unsupported route constraint '${spec}'`);
}

/** Percent-decodes one path segment; undefined when its percent-encoding is malformed (`%`, `%zz`, a bad UTF-8 octet). */
export function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/**
 * Whether a request path cannot be decoded. The host refuses such a request with 400 before any function runs
 * (https://www.rfc-editor.org/rfc/rfc3986#section-2.1: `%` must be followed by two hex digits, and the octets must
 * decode as UTF-8).
 */
export const isMalformedPath = (pathname: string): boolean =>
  pathname.split('/').some((segment) => decodeSegment(segment) === undefined);

/** Parses a template; throws a descriptive error for malformed ones (so a typo fails a test). */
export function parseRoute(template: string): RouteTemplate {
  const trimmed = template.replace(/^\/+|\/+$/g, '');
  if (/[?#\s]/.test(trimmed.replace(/\{[^}]*\}/g, ''))) throw new Error(`route '${template}': invalid character`);
  const segments: Segment[] =
    trimmed === ''
      ? []
      : trimmed.split('/').map((raw, i, all): Segment => {
          if (raw === '') throw new Error(`route '${template}': empty segment`);
          if (!raw.includes('{') && !raw.includes('}')) return { kind: 'literal', text: raw };
          const m = /^\{(\*{0,2})([A-Za-z_][A-Za-z0-9_]*)((?::[^:{}?]+)*)(\?)?\}$/.exec(raw);
          if (!m) throw new Error(`route '${template}': malformed parameter segment '${raw}'`);
          const catchAll = m[1] !== '';
          if (catchAll && i !== all.length - 1)
            throw new Error(`route '${template}': a catch-all must be the last segment`);
          const tests = (m[3] ?? '')
            .split(':')
            .filter(Boolean)
            .map((c) => constraint(c, template));
          return {
            kind: 'param',
            name: m[2],
            optional: m[4] === '?' || catchAll,
            catchAll,
            constrained: tests.length > 0,
            test: (v: string) => tests.every((t) => t(v)),
          };
        });
  const names = segments.filter((s) => s.kind === 'param').map((s) => s.name.toLowerCase());
  if (new Set(names).size !== names.length) throw new Error(`route '${template}': duplicate parameter name`);
  segments.forEach((s, i) => {
    if (s.kind === 'param' && s.optional && !s.catchAll && i !== segments.length - 1) {
      throw new Error(`route '${template}': an optional parameter must be the last segment`);
    }
  });
  const precedence = segments.map((seg) => {
    if (seg.kind === 'literal') return 4;
    if (seg.catchAll) return 0;
    if (seg.optional) return 1;
    return seg.constrained ? 3 : 2;
  });
  return {
    template,
    precedence,
    match(path: string) {
      const parts = path
        .replace(/^\/+|\/+$/g, '')
        .split('/')
        .filter((p) => p !== '');
      const params: Record<string, string> = {};
      for (let i = 0; i < segments.length; i++) {
        const seg = segments[i];
        const part = parts[i];
        if (seg.kind === 'literal') {
          if (part === undefined || part.toLowerCase() !== seg.text.toLowerCase()) return undefined;
          continue;
        }
        if (seg.catchAll) {
          const decoded = parts.slice(i).map(decodeSegment);
          if (decoded.some((d) => d === undefined)) return undefined;
          const rest = decoded.join('/');
          if (rest !== '') params[seg.name] = rest;
          return params;
        }
        if (part === undefined) return seg.optional ? params : undefined;
        const value = decodeSegment(part);
        if (value === undefined || !seg.test(value)) return undefined;
        params[seg.name] = value;
      }
      return parts.length === segments.length ? params : undefined;
    },
  };
}

/** ASP.NET Core routing picks the most specific template, not the first registered one: negative = a first. */
export function comparePrecedence(a: RouteTemplate, b: RouteTemplate): number {
  const n = Math.max(a.precedence.length, b.precedence.length);
  for (let i = 0; i < n; i++) {
    const d = (b.precedence[i] ?? -1) - (a.precedence[i] ?? -1);
    if (d !== 0) return d;
  }
  return 0;
}
