import { Command } from 'commander';
import type { SavepointManifest } from '../engine/checkpoint/savepoint.js';
import { cliToken } from './admin-key.js';
import { DEFAULT_URL } from './topic-target.js';
import { apiRequest, checkServerUrl } from './topics-client.js';

/**
 * `rivulet savepoint <pipeline>`: asks a running Rivulet to commit the pipeline and write a savepoint
 * (docs/cli.md). Prints the savepoint's directory, or its manifest with `--json`.
 */
export function savepointCommand(): Command {
  return new Command('savepoint')
    .description('write a savepoint of a running pipeline: its committed state, to restart from with `start --from-savepoint`')
    .argument('<pipeline>', 'the pipeline\'s name')
    .option('--name <name>', 'the savepoint\'s name (default: the time)')
    .option('--url <url>', `the running Rivulet (default: $RIVULET_URL or ${DEFAULT_URL})`)
    .option('--token <token>', 'API key or JWT with scope admin (default: $RIVULET_TOKEN, or ./data/admin.key when present)')
    .option('--json', 'print the savepoint\'s manifest as JSON')
    .action(async (pipeline: string, opts: { name?: string; url?: string; token?: string; json?: boolean }) => {
      const url = checkServerUrl(opts.url ?? process.env.RIVULET_URL ?? DEFAULT_URL);
      const res = await apiRequest<{ savepoint: SavepointManifest; path: string }>(url, 'POST', `/v1/pipelines/${encodeURIComponent(pipeline)}/savepoints`,
        opts.name === undefined ? {} : { name: opts.name }, cliToken(opts.token, url));
      if (opts.json) console.log(JSON.stringify(res, null, 2));
      else console.log(`savepoint '${res.savepoint.name}' of pipeline '${pipeline}' at epoch ${res.savepoint.epoch}: ${res.path}`);
    });
}
