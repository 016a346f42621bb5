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
 * Compiles `source` — the text of one function expression, `function name(…) { … }` — with `bindings`
 * in scope by name, and returns that function. Binding names must be identifiers the caller chose
 * (never user input). Where code generation from strings is not allowed (`node
 * --disallow-code-generation-from-strings`, a content security policy), returns `fallback()`: the
 * same function written as a plain closure, slower but equal in every result.
 *
 * V8 caches the code of `new Function` by its text, and functions of one text share what V8 learned
 * about their call sites. Two pipelines whose generated code reads alike would then share it, and a
 * call site that has seen both pipelines' functions is not inlined. So the text carries a fingerprint
 * of what is bound — the bound functions' own text, the classes of bound objects — in a comment: the
 * same pipeline compiled again shares code and what was learned, another pipeline does not.
 */
export function compileFunction<F>(bindings: Record<string, unknown>, source: string, fallback: () => F): F {
  if (!codeGeneration()) return fallback();
  const names = Object.keys(bindings);
  const tagged = source.replace('{', `{ /* ${fingerprint(names.map((n) => describe(bindings[n])).join('\n'))} */`);
  return new Function(...names, `'use strict'; return (${tagged});`)(...names.map((n) => bindings[n])) as F;
}

/** What decides a binding's call targets: a function's text, or an object's class and its own functions' text. */
function describe(value: unknown): string {
  if (typeof value === 'function') return value.toString();
  if (typeof value !== 'object' || value === null) return typeof value;
  let text = (value as object).constructor?.name ?? 'null';
  for (const v of Object.values(value)) if (typeof v === 'function') text += `|${(v as () => void).toString()}`;
  return text;
}

/** A 53-bit hash of a text (cyrb53), as base 36. */
function fingerprint(text: string): string {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(36);
}

let allowed: boolean | undefined;

/**
 * @internal For tests: `false` makes every later `compileFunction` return its fallback, `undefined`
 * asks the runtime again.
 */
export function setCodeGeneration(value: boolean | undefined): void {
  allowed = value;
}

/** Whether this runtime compiles code from strings (tried once). */
function codeGeneration(): boolean {
  if (allowed === undefined) {
    try {
      allowed = new Function('return true')() === true;
    } catch {
      allowed = false;
    }
  }
  return allowed;
}
