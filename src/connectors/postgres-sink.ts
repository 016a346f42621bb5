import pg from 'pg';
import { InvalidArgumentError } from '../core/errors.js';
import type { AppendRecord, LogRecord } from '../core/record.js';
import type { Log } from '../log/log.js';
import type { RunningSink, SinkConnector, SinkStatus } from './sink.js';

/** Options of {@link postgresSink}. */
export interface PostgresSinkOptions {
  /** Names the sink: its read positions are kept in PostgreSQL under this name. */
  name: string;
  /** The topic whose records become rows, e.g. a pipeline's output (which holds committed results only). */
  topic: string;
  /** `postgres://user:password@host:5432/database`. */
  connectionString: string;
  /** The table to write, `name` or `schema.name`; created when missing. */
  table: string;
  /**
   * `'key'` (default): one row per record key with its latest value; a `null` value deletes the row.
   * `'window'`: one row per key and window, for window results (`start` and `end` in the value); a
   * retraction (`retracted: true`) deletes its row.
   */
  rowsBy?: 'key' | 'window';
  /** Records per transaction. Default 1000. */
  batchSize?: number;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

function quoteTable(table: string): string {
  const parts = table.split('.');
  if (parts.length > 2 || !parts.every((p) => IDENT.test(p))) {
    throw new InvalidArgumentError(`postgres sink: table must be 'name' or 'schema.name' of letters, digits and _, got ${JSON.stringify(table)}`);
  }
  return parts.map((p) => `"${p}"`).join('.');
}

/** The final operation per row of a batch: later records of a row replace earlier ones. */
interface RowOp {
  key: string;
  start?: number;
  end?: number;
  value: unknown;
  delete: boolean;
  timestamp: number;
  partition: number;
  offset: number;
}

/**
 * A sink that keeps a PostgreSQL table equal to a topic's latest values: rows are upserted by key (and
 * window), so a record written twice leaves one row; the sink's read positions are stored in the same
 * transaction as the rows, so after a crash of either side it goes on exactly where the table is.
 * Records it cannot write (no key; a window row without `start`/`end`) go to the dead-letter topic.
 *
 * @example
 * ```ts
 * import { defineConfig, postgresSink } from 'rivulet';
 * export default defineConfig({
 *   pipelines: [cardStats],
 *   sinks: [postgresSink({ name: 'card-stats-pg', topic: 'card-stats', table: 'card_stats', rowsBy: 'window',
 *     connectionString: 'postgres://rivulet@127.0.0.1:5432/analytics' })],
 * });
 * ```
 */
export function postgresSink(options: PostgresSinkOptions): SinkConnector {
  const table = quoteTable(options.table);
  const rowsBy = options.rowsBy ?? 'key';
  if (rowsBy !== 'key' && rowsBy !== 'window') throw new InvalidArgumentError(`postgres sink '${options.name}': rowsBy must be 'key' or 'window', got ${JSON.stringify(rowsBy)}`);
  if (typeof options.name !== 'string' || options.name === '') throw new InvalidArgumentError('postgres sink: name must be a non-empty string');
  const batchSize = options.batchSize ?? 1000;
  return {
    name: options.name,
    topic: options.topic,
    start: (log, deadLetters) => new PostgresSinkRunner(options, table, rowsBy, batchSize, log, deadLetters),
  };
}

class PostgresSinkRunner implements RunningSink {
  private readonly abort = new AbortController();
  private readonly loop: Promise<void>;
  private client: pg.Client | undefined;
  private positions: number[] = [];
  private createdAt = 0;
  rowsWritten = 0;
  lastError: string | undefined;

  constructor(private readonly options: PostgresSinkOptions, private readonly table: string, private readonly rowsBy: 'key' | 'window',
    private readonly batchSize: number, private readonly log: Log, private readonly deadLetters: (records: AppendRecord[]) => Promise<void>) {
    this.loop = this.run();
  }

  get name(): string {
    return this.options.name;
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    await this.client?.end().catch(() => undefined);
  }

  private async run(): Promise<void> {
    let backoff = 100;
    while (!this.abort.signal.aborted) {
      try {
        if (!this.client) await this.connect();
        const wrote = await this.round();
        backoff = 100;
        this.lastError = undefined;
        if (!wrote) await this.log.waitForRecords(this.options.topic, this.positions, this.abort.signal);
      } catch (err) {
        // PostgreSQL unreachable or failing: nothing was committed, so retry from its stored positions.
        this.lastError = (err as Error).message;
        await this.client?.end().catch(() => undefined);
        this.client = undefined;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, backoff);
          function done() {
            clearTimeout(timer);
            resolve();
          }
          this.abort.signal.addEventListener('abort', done, { once: true });
        });
        backoff = Math.min(backoff * 2, 5000);
      }
    }
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.options.connectionString });
    client.on('error', () => undefined); // surfaces as a failed query, handled by the loop
    await client.connect();
    const keyCols = this.rowsBy === 'window'
      ? 'key TEXT NOT NULL, window_start TIMESTAMPTZ NOT NULL, window_end TIMESTAMPTZ NOT NULL'
      : 'key TEXT NOT NULL';
    const pk = this.rowsBy === 'window' ? 'key, window_start' : 'key';
    await client.query(`CREATE TABLE IF NOT EXISTS ${this.table} (${keyCols}, value JSONB NOT NULL, event_time TIMESTAMPTZ NOT NULL,
      source_partition INT NOT NULL, source_offset BIGINT NOT NULL, PRIMARY KEY (${pk}))`);
    await client.query(`CREATE TABLE IF NOT EXISTS rivulet_sink_offsets (sink TEXT NOT NULL, topic TEXT NOT NULL, partition INT NOT NULL,
      next_offset BIGINT NOT NULL, topic_created_at BIGINT NOT NULL, PRIMARY KEY (sink, topic, partition))`);
    const stored = await client.query<{ partition: number; next_offset: string; topic_created_at: string }>(
      'SELECT partition, next_offset, topic_created_at FROM rivulet_sink_offsets WHERE sink = $1 AND topic = $2', [this.options.name, this.options.topic]);
    const starts = this.log.startOffsets(this.options.topic);
    this.createdAt = this.log.describeTopic(this.options.topic)?.createdAt ?? 0;
    // Positions of an earlier topic of the same name (deleted and created again) do not apply.
    const mine = stored.rows.filter((r) => Number(r.topic_created_at) === this.createdAt);
    this.positions = starts.map((s, p) => Math.max(s, Number(mine.find((r) => r.partition === p)?.next_offset ?? s)));
    this.client = client;
  }

  /** Writes what the topic has past the positions, one transaction per partition batch; false when there was nothing. */
  private async round(): Promise<boolean> {
    let wrote = false;
    for (let p = 0; p < this.positions.length && !this.abort.signal.aborted; p++) {
      const records = await this.log.read(this.options.topic, p, this.positions[p]!, this.batchSize);
      if (records.length === 0) continue;
      await this.write(p, records);
      wrote = true;
    }
    return wrote;
  }

  /**
   * Writes a batch of one partition in one transaction. When PostgreSQL refuses the data itself (a
   * value it cannot store, SQLSTATE class 22 or 23), the records are written one by one so that only
   * the refused one goes to the dead-letter topic.
   */
  private async write(partition: number, records: LogRecord[]): Promise<void> {
    try {
      await this.writeBatch(partition, records);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (typeof code !== 'string' || !/^2[23]/.test(code)) throw err;
      if (records.length > 1) {
        for (const r of records) await this.write(partition, [r]);
        return;
      }
      const r = records[0]!;
      await this.deadLetter(r, 'sink_rejected', `PostgreSQL refused the row: ${(err as Error).message}`);
      await this.writeBatch(partition, [], r.offset + 1);
    }
  }

  /** Dead letters already sent by this process, by offset, so that retries do not repeat them. */
  private readonly deadLettered = new Set<string>();

  private async deadLetter(r: LogRecord, code: string, error: string): Promise<void> {
    const id = `${r.partition}:${r.offset}`;
    if (this.deadLettered.has(id)) return;
    await this.deadLetters([{
      key: this.options.topic, timestamp: r.timestamp,
      value: { sink: this.options.name, topic: this.options.topic, partition: r.partition, offset: r.offset, code, error, event: r.value },
    }]);
    this.deadLettered.add(id);
  }

  private async writeBatch(partition: number, records: LogRecord[], nextOffset?: number): Promise<void> {
    const client = this.client!;
    const ops = new Map<string, RowOp>();
    const refused: [LogRecord, string, string][] = [];
    for (const r of records) {
      const refuse = (code: string, error: string) => refused.push([r, code, error]);
      if (r.key === null) {
        refuse('sink_needs_key', `postgres sink '${this.options.name}' writes rows by key; the record has none`);
        continue;
      }
      if (r.key.includes('\u0000')) {
        refuse('sink_invalid_key', `postgres sink '${this.options.name}': PostgreSQL text cannot hold the NUL character the key contains`);
        continue;
      }
      const v = r.value as { start?: unknown; end?: unknown; retracted?: unknown } | null;
      if (this.rowsBy === 'window') {
        if (v === null || typeof v !== 'object' || typeof v.start !== 'number' || typeof v.end !== 'number') {
          refuse('sink_needs_window', `postgres sink '${this.options.name}' writes a row per window; the value has no numeric 'start' and 'end'`);
          continue;
        }
        ops.set(`${r.key}\u0000${v.start}`, { key: r.key, start: v.start, end: v.end, value: v, delete: v.retracted === true, timestamp: r.timestamp, partition: r.partition, offset: r.offset });
      } else {
        ops.set(r.key, { key: r.key, value: v, delete: v === null, timestamp: r.timestamp, partition: r.partition, offset: r.offset });
      }
    }
    // Dead letters first: a crash after them repeats them (each names its record), never loses one.
    for (const [r, code, error] of refused) await this.deadLetter(r, code, error);
    const upserts = [...ops.values()].filter((o) => !o.delete);
    const deletes = [...ops.values()].filter((o) => o.delete);
    const next = nextOffset ?? records.at(-1)!.offset + 1;
    await client.query('BEGIN');
    try {
      if (deletes.length > 0) {
        if (this.rowsBy === 'window') {
          await client.query(`DELETE FROM ${this.table} t USING unnest($1::text[], $2::float8[]) AS d(key, start)
            WHERE t.key = d.key AND t.window_start = to_timestamp(d.start / 1000.0)`, [deletes.map((o) => o.key), deletes.map((o) => o.start)]);
        } else {
          await client.query(`DELETE FROM ${this.table} WHERE key = ANY($1::text[])`, [deletes.map((o) => o.key)]);
        }
      }
      if (upserts.length > 0) {
        const common = [upserts.map((o) => JSON.stringify(o.value)), upserts.map((o) => o.timestamp), upserts.map((o) => o.partition), upserts.map((o) => o.offset)];
        if (this.rowsBy === 'window') {
          await client.query(`INSERT INTO ${this.table} (key, window_start, window_end, value, event_time, source_partition, source_offset)
            SELECT k, to_timestamp(s / 1000.0), to_timestamp(e / 1000.0), v, to_timestamp(t / 1000.0), p, o
            FROM unnest($1::text[], $2::float8[], $3::float8[], $4::jsonb[], $5::float8[], $6::int[], $7::bigint[]) AS x(k, s, e, v, t, p, o)
            ON CONFLICT (key, window_start) DO UPDATE SET window_end = EXCLUDED.window_end, value = EXCLUDED.value, event_time = EXCLUDED.event_time,
              source_partition = EXCLUDED.source_partition, source_offset = EXCLUDED.source_offset`,
          [upserts.map((o) => o.key), upserts.map((o) => o.start), upserts.map((o) => o.end), ...common]);
        } else {
          await client.query(`INSERT INTO ${this.table} (key, value, event_time, source_partition, source_offset)
            SELECT k, v, to_timestamp(t / 1000.0), p, o FROM unnest($1::text[], $2::jsonb[], $3::float8[], $4::int[], $5::bigint[]) AS x(k, v, t, p, o)
            ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, event_time = EXCLUDED.event_time,
              source_partition = EXCLUDED.source_partition, source_offset = EXCLUDED.source_offset`,
          [upserts.map((o) => o.key), ...common]);
        }
      }
      await client.query(`INSERT INTO rivulet_sink_offsets (sink, topic, partition, next_offset, topic_created_at) VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (sink, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset, topic_created_at = EXCLUDED.topic_created_at`,
      [this.options.name, this.options.topic, partition, next, this.createdAt]);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
    this.positions[partition] = next;
    this.rowsWritten += ops.size;
  }

  status(): SinkStatus {
    return { name: this.options.name, topic: this.options.topic, positions: [...this.positions], rowsWritten: this.rowsWritten, ...(this.lastError ? { lastError: this.lastError } : {}) };
  }
}
