import { Command, InvalidArgumentError as CommanderArgumentError } from 'commander';
import type { TopicAdmin } from '../serve/topic-admin.js';
import { parseSettings } from './topic-settings.js';
import { DEFAULT_URL, withTopicAdmin, type TargetOptions } from './topic-target.js';
import { formatTopic, formatTopicList } from './topics-output.js';

interface CommonOptions extends TargetOptions {
  json?: boolean;
}

function partitionCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 1024) throw new CommanderArgumentError(`'${value}' is not a partition count (1-1024)`);
  return n;
}

/** Adds the options that every `topics` command takes: where the Rivulet is, and the output format. */
function common(cmd: Command): Command {
  return cmd
    .option('--url <url>', `a running Rivulet (default: $RIVULET_URL or ${DEFAULT_URL})`)
    .option('--data <dir>', 'instead, the data directory of a stopped Rivulet')
    .option('--token <token>', 'API key or JWT for --url (default: $RIVULET_TOKEN, or ./data/admin.key when present)')
    .option('--json', 'print JSON (as the HTTP API answers) instead of tables');
}

/** Runs one command on the admin the options name, and prints JSON or the human-readable text. */
async function run(options: CommonOptions, fn: (admin: TopicAdmin) => Promise<{ json: unknown; text: string }>): Promise<void> {
  const out = await withTopicAdmin(options, fn);
  console.log(options.json ? JSON.stringify(out.json, null, 2) : out.text);
}

/**
 * The `rivulet topics` command group: create, list, describe, configure and delete topics on a running
 * Rivulet over HTTP (`--url`) or on a stopped data directory (`--data`). Syntax in docs/cli.md.
 */
export function topicsCommand(): Command {
  const topics = new Command('topics')
    .description('create, list, describe, configure and delete topics (docs/cli.md)');

  common(topics.command('list'))
    .description('list the topics')
    .action((opts: CommonOptions) => run(opts, async (admin) => {
      const list = await admin.list();
      return { json: { topics: list }, text: formatTopicList(list) };
    }));

  common(topics.command('describe'))
    .description('show a topic: its settings and the offsets of its partitions')
    .argument('<name>', 'topic')
    .action((name: string, opts: CommonOptions) => run(opts, async (admin) => {
      const t = await admin.describe(name);
      return { json: t, text: formatTopic(t) };
    }));

  common(topics.command('create'))
    .description('create a topic')
    .argument('<name>', 'topic: 1-200 of A-Z a-z 0-9 . _ -, not starting with . or -')
    .option('--partitions <n>', 'number of partitions, fixed once created (default: 4)', partitionCount)
    .option('--config <key=value...>', 'settings, e.g. --config fsync=always retentionMs=7d segmentBytes=16MiB')
    .action((name: string, opts: CommonOptions & { partitions?: number; config?: string[] }) => run(opts, async (admin) => {
      const config = parseSettings(opts.config ?? []);
      const t = await admin.create({ name, ...(opts.partitions === undefined ? {} : { partitions: opts.partitions }), config });
      return { json: t, text: `created topic '${t.name}'\n\n${formatTopic(t)}` };
    }));

  common(topics.command('config'))
    .description('change settings of a topic; the others keep their values')
    .argument('<name>', 'topic')
    .argument('<key=value...>', 'settings, e.g. retentionMs=7d fsync=always retentionBytes=null')
    .action((name: string, settings: string[], opts: CommonOptions) => run(opts, async (admin) => {
      const t = await admin.updateConfig(name, parseSettings(settings));
      return { json: t, text: `updated topic '${t.name}'\n\n${formatTopic(t)}` };
    }));

  common(topics.command('delete'))
    .description('delete a topic and all its records')
    .argument('<name>', 'topic')
    .action((name: string, opts: CommonOptions) => run(opts, async (admin) => {
      await admin.delete(name);
      return { json: { deleted: name }, text: `deleted topic '${name}'` };
    }));

  return topics;
}
