/**
 * NCRONTAB schedules as the timer trigger reads them: six fields `{second} {minute} {hour} {day} {month}
 * {day-of-week}` with `*`, lists, ranges and steps, evaluated in UTC (WEBSITE_TIME_ZONE unset)
 * https://learn.microsoft.com/azure/azure-functions/functions-bindings-timer#ncrontab-expressions
 * Month and day names are not supported here (the product's schedules use numbers).
 */
export interface Schedule {
  expression: string;
  /** The first occurrence strictly after `after` (ms since the epoch), or undefined within ~5 years. */
  next: (after: number) => number | undefined;
}

const RANGES: [number, number][] = [
  [0, 59],
  [0, 59],
  [0, 23],
  [1, 31],
  [1, 12],
  [0, 6],
];

function field(text: string, [min, max]: [number, number], expression: string): Set<number> {
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const m = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
    if (!m) throw new Error(`invalid NCRONTAB expression '${expression}': bad field '${text}'`);
    const from = m[1] === '*' ? min : Number(m[2]);
    const to = m[1] === '*' ? max : m[3] !== undefined ? Number(m[3]) : m[4] !== undefined ? max : from;
    const step = m[4] !== undefined ? Number(m[4]) : 1;
    if (from < min || to > max || from > to || step < 1) {
      throw new Error(`invalid NCRONTAB expression '${expression}': '${part}' outside ${min}-${max}`);
    }
    for (let v = from; v <= to; v += step) out.add(v);
  }
  return out;
}

export function parseNcrontab(expression: string): Schedule {
  const parts = expression.trim().split(/\s+/);
  if (parts.length !== 6) throw new Error(`invalid NCRONTAB expression '${expression}': six fields expected`);
  const [sec, min, hour, day, month, dow] = parts.map((p, i) => field(p, RANGES[i], expression)) as [
    Set<number>,
    Set<number>,
    Set<number>,
    Set<number>,
    Set<number>,
    Set<number>,
  ];
  return {
    expression,
    next: (after) => {
      let t = Math.floor(after / 1000) * 1000 + 1000;
      const limit = after + 5 * 366 * 24 * 3600 * 1000;
      while (t <= limit) {
        const d = new Date(t);
        if (!month.has(d.getUTCMonth() + 1)) {
          t = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
        } else if (!day.has(d.getUTCDate()) || !dow.has(d.getUTCDay())) {
          t = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
        } else if (!hour.has(d.getUTCHours())) {
          t = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours() + 1);
        } else if (!min.has(d.getUTCMinutes())) {
          t = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes() + 1);
        } else if (!sec.has(d.getUTCSeconds())) {
          t += 1000;
        } else {
          return t;
        }
      }
      return undefined;
    },
  };
}
