import type { TopicDescription } from '../serve/topic-admin.js';
import { formatSetting, humanBytes, SETTING_NAMES } from './topic-settings.js';

/** Lays out rows as columns separated by two spaces; the columns flagged in `right` are right-aligned. */
function table(rows: string[][], right: boolean[] = []): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (right[c] ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ').trimEnd()).join('\n');
}

/** Records in the stored offset range of a topic (compaction may have removed some of them). */
const records = (t: TopicDescription) => t.partitionDetails.reduce((n, p) => n + p.endOffset - p.startOffset, 0);

function retention(t: TopicDescription): string {
  const parts = [];
  if (t.config.retentionMs !== null) parts.push(formatSetting('retentionMs', t.config.retentionMs));
  if (t.config.retentionBytes !== null) parts.push(`${formatSetting('retentionBytes', t.config.retentionBytes)}/partition`);
  return parts.join(', ') || 'forever';
}

/** `rivulet topics list` for people: one line per topic. */
export function formatTopicList(topics: readonly TopicDescription[]): string {
  if (topics.length === 0) return 'no topics';
  const rows = [['TOPIC', 'PARTITIONS', 'RECORDS', 'SIZE', 'SEGMENTS', 'CLEANUP', 'RETENTION']];
  for (const t of topics) {
    rows.push([t.name, String(t.partitions), String(records(t)), t.bytes === undefined ? '-' : humanBytes(t.bytes),
      t.segments === undefined ? '-' : String(t.segments), t.config.cleanupPolicy, retention(t)]);
  }
  return table(rows, [false, true, true, true, true, false, false]);
}

/** `rivulet topics describe` for people: the topic, its settings (in the syntax `topics config` takes) and its partitions. */
export function formatTopic(t: TopicDescription): string {
  const head = [
    ['topic', t.name],
    ['partitions', String(t.partitions)],
    ['created', new Date(t.createdAt).toISOString()],
    ['records', String(records(t))],
  ];
  if (t.bytes !== undefined) head.push(['size', `${humanBytes(t.bytes)} in ${t.segments ?? '?'} segments`]);
  const settings = [['SETTING', 'VALUE'], ...SETTING_NAMES.map((k) => [k, formatSetting(k, (t.config as Record<string, unknown>)[k])])];
  const partitions = [['PARTITION', 'START', 'END'], ...t.partitionDetails.map((p) => [String(p.partition), String(p.startOffset), String(p.endOffset)])];
  return [table(head), table(settings), table(partitions, [true, true, true])].join('\n\n');
}
