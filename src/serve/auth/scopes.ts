import { InvalidArgumentError } from '../../core/errors.js';

/**
 * What a request needs to be allowed: appending to a topic (`ingest`), reading a topic or view or
 * subscribing to it (`read`), watching Rivulet's metrics and pipelines (`metrics`), or administering it
 * (`admin`: creating and deleting topics, savepoints; implies every other permission).
 * The server names one for each endpoint and asks {@link grants} (through the `Authenticator`) whether a
 * caller has it.
 */
export type Permission = { action: 'ingest' | 'read'; resource: string } | { action: 'metrics' } | { action: 'admin' };

/** Which names of one action a set of scopes covers. */
interface Names {
  /** `*` was given: every name. */
  readonly all: boolean;
  readonly exact: ReadonlySet<string>;
  /** From patterns like `sensors.*`, without the `*`. */
  readonly prefixes: readonly string[];
}

/**
 * Scopes compiled by {@link parseScopes}, for checking with {@link grants}. Treat it as opaque apart from
 * `list`: its other fields may change.
 */
export interface ParsedScopes {
  /** The valid scopes as given, without duplicates: for logs and answers that show a caller its rights. */
  readonly list: readonly string[];
  readonly admin: boolean;
  readonly metrics: boolean;
  readonly ingest: Names;
  readonly read: Names;
}

// Patterns use the characters of topic names (views are named after topics), so that a typo such as
// `read:sensors/*` is refused instead of silently matching nothing.
const SCOPE = /^(ingest|read):([A-Za-z0-9._-]*)(\*?)$/;

/**
 * Why `scope` is not a valid scope, or `undefined` when it is. Use it to report a bad scope with its
 * position in a list; {@link parseScopes} reports the first bad one by itself.
 */
export function scopeProblem(scope: string): string | undefined {
  if (scope === 'admin' || scope === 'metrics') return undefined;
  const m = SCOPE.exec(scope);
  if (m && (m[2] !== '' || m[3] !== '')) return undefined;
  const detail = /^(ingest|read):/.test(scope)
    ? `its pattern must be a name, '*', or a prefix ending in '*' (such as 'sensors.*'), using letters, digits, '.', '_' and '-'`
    : `use 'admin', 'metrics', 'ingest:<pattern>' or 'read:<pattern>'`;
  return `invalid scope '${scope}': ${detail}`;
}

/**
 * Compiles a list of scopes once, so that each request is checked with set lookups. Scopes are
 * `admin` (everything), `metrics` (`GET /metrics`, pipeline status, metrics subscriptions), `ingest:<pattern>` (append to topics) and `read:<pattern>` (read topics and
 * views, subscribe), where a pattern is an exact name, `*`, or a prefix ending in `*`.
 *
 * A bad scope is refused with `InvalidArgumentError` code `invalid_scope`; with `ignoreInvalid` it is
 * dropped instead, which suits scopes that come from tokens, where an identity provider adds its own
 * (`openid`, `profile`) next to Rivulet's.
 *
 * @example
 * ```ts
 * const scopes = parseScopes(['read:*', 'ingest:sensors.*']);
 * grants(scopes, { action: 'ingest', resource: 'sensors.temp' }); // true
 * grants(scopes, { action: 'ingest', resource: 'payments' });     // false
 * ```
 */
export function parseScopes(list: readonly string[], options: { ignoreInvalid?: boolean } = {}): ParsedScopes {
  const valid = new Set<string>();
  for (const scope of list) {
    const problem = scopeProblem(scope);
    if (problem === undefined) valid.add(scope);
    else if (!options.ignoreInvalid) throw new InvalidArgumentError(problem, 'invalid_scope');
  }
  const names = (action: 'ingest' | 'read'): Names => {
    const patterns = [...valid].filter((s) => s.startsWith(`${action}:`)).map((s) => s.slice(action.length + 1));
    return {
      all: patterns.includes('*'),
      exact: new Set(patterns.filter((p) => !p.endsWith('*'))),
      prefixes: patterns.filter((p) => p.endsWith('*') && p !== '*').map((p) => p.slice(0, -1)),
    };
  };
  return { list: [...valid], admin: valid.has('admin'), metrics: valid.has('metrics'), ingest: names('ingest'), read: names('read') };
}

/**
 * Whether `scopes` allow `need`. `admin` allows everything; `ingest` and `read` are separate (reading a
 * topic does not allow appending to it, nor the other way round).
 */
export function grants(scopes: ParsedScopes, need: Permission): boolean {
  if (scopes.admin) return true;
  if (need.action === 'admin') return false;
  if (need.action === 'metrics') return scopes.metrics;
  const names = scopes[need.action];
  return names.all || names.exact.has(need.resource) || names.prefixes.some((p) => need.resource.startsWith(p));
}

/**
 * The scope that grants `need` (`read:alerts`, `admin`): for error messages that tell a caller which
 * scope to ask for.
 */
export function describePermission(need: Permission): string {
  return need.action === 'admin' || need.action === 'metrics' ? need.action : `${need.action}:${need.resource}`;
}
