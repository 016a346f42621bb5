/**
 * Event times in Rivulet are epoch milliseconds. This converts the forms events commonly carry —
 * a number of milliseconds, a Date, or an ISO-8601 string — and returns `undefined` for anything else,
 * so that callers can produce an error that names the field.
 */
export function toEpochMillis(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (v instanceof Date) {
    const t = v.getTime();
    return Number.isFinite(t) ? t : undefined;
  }
  if (typeof v === 'string' && v.length > 0 && /^\d{4}-\d{2}-\d{2}/.test(v)) {
    const t = Date.parse(v);
    return Number.isFinite(t) ? t : undefined;
  }
  return undefined;
}

/** Describes a value briefly for error messages: its type and, when short, the value itself. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing (the field is missing)';
  if (v === null) return 'null';
  const json = JSON.stringify(v);
  const shown = json !== undefined && json.length <= 40 ? ` ${json}` : '';
  return `${Array.isArray(v) ? 'array' : typeof v}${shown}`;
}
