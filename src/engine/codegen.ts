/**
 * Per-operator compiled functions for the engine's per-event paths.
 *
 * V8 learns the targets of each call site and inlines a call whose site always sees the same function.
 * A loop in the engine that calls user functions — filters, key selectors, aggregates — is one call
 * site for every pipeline, every operator and every aggregate, so it sees many functions, and none of
 * them is inlined. Written out per operator and compiled with `new Function`, each call gets a site of
 * its own: in the Nexmark queries this doubled the events/s of keyed windows (docs/benchmarks.md).
 *
 * Only the engine's own code is source text; user functions and values are passed in as bindings.
 *
 * @module
 */

/**
 * Compiles `source` — the text of one function expression — with `bindings` in scope by name, and
 * returns that function. Binding names must be identifiers the caller chose (never user input).
 */
export function compileFunction<F>(bindings: Record<string, unknown>, source: string): F {
  const names = Object.keys(bindings);
  return new Function(...names, `'use strict'; return (${source});`)(...names.map((n) => bindings[n])) as F;
}
