import { durationMs, formatDuration, type Duration } from '../core/duration.js';
import { InvalidArgumentError } from '../core/errors.js';
import { TOPIC_DEFAULTS } from '../log/topic-config.js';

/** The names of the settings a topic has (everything of TopicConfig but `partitions`). */
export const SETTING_NAMES = Object.keys(TOPIC_DEFAULTS);

const SIZE_UNITS: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 };
const NUMBER = /^-?\d+(?:\.\d+)?$/;

function parseDuration(key: string, text: string): number {
  if (NUMBER.test(text)) return Number(text);
  return durationMs(text as Duration, key);
}

function parseSize(key: string, text: string): number {
  if (NUMBER.test(text)) return Number(text);
  const m = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|TiB)$/.exec(text);
  if (!m) throw new InvalidArgumentError(`${key}: expected a number of bytes or a size such as '512KiB', '64MiB' or '1GiB', got '${text}'`);
  return Math.round(Number(m[1]) * SIZE_UNITS[m[2]!]!);
}

/** One setting's value from its text, by the rules in docs/cli.md ("Setting values"). */
function parseValue(key: string, text: string): unknown {
  if (text === 'null') return null;
  if (/^[{["]/.test(text)) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new InvalidArgumentError(`${key}: '${text}' is not valid JSON`);
    }
  }
  if (key === 'fsync') return text === 'always' || text === 'never' ? text : { intervalMs: parseDuration(key, text) };
  if (key.endsWith('Ms')) return parseDuration(key, text);
  if (key.endsWith('Bytes')) return parseSize(key, text);
  return NUMBER.test(text) ? Number(text) : text;
}

/**
 * Parses `key=value` arguments of `rivulet topics create --config` and `rivulet topics config` into
 * topic settings, e.g. `['fsync=always', 'retentionMs=7d', 'segmentBytes=16MiB']`. Names are checked
 * here; values only for their syntax (the log checks their ranges and names the setting that is wrong).
 */
export function parseSettings(args: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const arg of args) {
    const eq = arg.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`expected a setting as key=value, got '${arg}'`);
    const key = arg.slice(0, eq).trim();
    if (key === 'partitions') throw new InvalidArgumentError("'partitions' is not a setting: give it with --partitions when creating the topic; it cannot be changed later");
    if (!SETTING_NAMES.includes(key)) throw new InvalidArgumentError(`unknown setting '${key}'; the settings are ${SETTING_NAMES.join(', ')}`);
    out[key] = parseValue(key, arg.slice(eq + 1).trim());
  }
  return out;
}

function formatSize(bytes: number): string {
  for (const unit of ['TiB', 'GiB', 'MiB', 'KiB']) if (bytes > 0 && bytes % SIZE_UNITS[unit]! === 0) return `${bytes / SIZE_UNITS[unit]!}${unit}`;
  return String(bytes);
}

/** A setting's value in the syntax {@link parseSettings} takes (`1s`, `64MiB`, `null`), for showing it to people. */
export function formatSetting(key: string, value: unknown): string {
  if (value === null) return 'null';
  if (key === 'fsync' && typeof value === 'object') return formatDuration((value as { intervalMs: number }).intervalMs);
  if (typeof value === 'number' && key.endsWith('Ms')) return formatDuration(value);
  if (typeof value === 'number' && key.endsWith('Bytes')) return formatSize(value);
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** A number of bytes for people: `812 B`, `1.5 MiB`. */
export function humanBytes(bytes: number): string {
  let value = bytes;
  for (const unit of ['B', 'KiB', 'MiB', 'GiB']) {
    if (value < 1024) return unit === 'B' ? `${value} B` : `${value.toFixed(1)} ${unit}`;
    value /= 1024;
  }
  return `${value.toFixed(1)} TiB`;
}
