/**
 * NCRONTAB validation for ROTATION_SCHEDULE. The timer trigger reads six fields `{second} {minute} {hour} {day}
 * {month} {day-of-week}` with `*`, lists, ranges and steps, evaluated in UTC unless WEBSITE_TIME_ZONE is set
 * (https://learn.microsoft.com/azure/azure-functions/functions-bindings-timer#ncrontab-expressions). Month and day
 * names are refused: the local host (sandbox/host/ncrontab.ts) reads numbers only, and a schedule must run the same
 * locally and in Azure. Pure; no imports, so src/config.ts can use it.
 */
const RANGES: ReadonlyArray<readonly [number, number]> = [
  [0, 59],
  [0, 59],
  [0, 23],
  [1, 31],
  [1, 12],
  [0, 6],
];

const PART = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/;

function validField(text: string, [min, max]: readonly [number, number]): boolean {
  return text.split(',').every((part) => {
    const m = PART.exec(part);
    if (!m) return false;
    const from = m[1] === '*' ? min : Number(m[2]);
    const to = m[1] === '*' ? max : m[3] !== undefined ? Number(m[3]) : from;
    const step = m[4] !== undefined ? Number(m[4]) : 1;
    return from >= min && to <= max && from <= to && step >= 1;
  });
}

/** True for a six-field numeric NCRONTAB expression the timer trigger accepts. */
export function isNcrontab(expression: string): boolean {
  const fields = expression.trim().split(/\s+/);
  return fields.length === 6 && fields.every((f, i) => validField(f, RANGES[i]));
}
