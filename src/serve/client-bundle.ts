import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

let bundle: Promise<string> | undefined;

/**
 * `rivulet/client` as one ES module for browsers (`GET /client.js`), built from the SDK's module next to
 * this one — its TypeScript source when Rivulet runs from source, the compiled JavaScript when it runs
 * from `dist` — once, on first request. The dashboard imports it; so can any page:
 * `import { createClient } from 'http://localhost:7070/client.js'`.
 */
export function clientBundle(): Promise<string> {
  bundle ??= (async () => {
    const entry = ['../client/mod.ts', '../client/mod.js'].map((p) => fileURLToPath(new URL(p, import.meta.url))).find((p) => fs.existsSync(p));
    if (!entry) throw new Error('the rivulet/client module is missing next to the server');
    const out = await build({ entryPoints: [entry], bundle: true, format: 'esm', target: 'es2022', platform: 'browser', minify: true, write: false, legalComments: 'none' });
    return out.outputFiles[0]!.text;
  })();
  bundle.catch(() => { bundle = undefined; });
  return bundle;
}
