import { AckPolicy, DeliverPolicy, type JetStreamManager } from '@nats-io/jetstream';
import { createInbox, nanos, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { RivuletError } from '../../core/errors.js';

/** A message read from a partition's stream. */
export interface StreamMessage {
  seq: number;
  data: Uint8Array;
}

interface Pull {
  consumer: string;
  max: number;
  messages: StreamMessage[];
  resolve(messages: StreamMessage[]): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

interface IdleConsumer {
  stream: string;
  name: string;
  /** When it was last pulled from: the server removes it after `INACTIVE_MS` without one. */
  usedAt: number;
  /** The sequence the consumer delivers next (or the first after it, where messages were removed). */
  nextSeq: number;
}

/** Tries of a consumer creation that timed out. */
const CREATE_ATTEMPTS = 6;

/** How long the server keeps a consumer nobody pulls from. */
const INACTIVE_MS = 120_000;

/**
 * Reads ranges of a stream with ephemeral pull consumers, the way a `Log.read` needs them: "the
 * messages from sequence s, at most n, only those stored now". Each pull asks for a batch with
 * `no_wait`, so the server sends what it has and then says there is no more, instead of waiting.
 *
 * Readers mostly go on where they stopped, so a consumer is kept after a read and used again by the
 * read that asks for the sequence it stopped at; consumers idle past a bound are deleted (and the
 * server drops those this process forgets, after two minutes without a pull).
 */
export class ConsumerReader {
  private readonly inbox = createInbox();
  private readonly sub: Subscription;
  private readonly pulls = new Map<string, Pull>();
  /** The pull in flight of each consumer (one at a time): delivered messages keep their own subject, so their reply subject names the consumer. */
  private readonly pullOf = new Map<string, string>();
  private readonly idle: IdleConsumer[] = [];
  private nextPull = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly options: { maxIdleConsumers: number; pullTimeoutMs: number },
  ) {
    this.sub = nc.subscribe(`${this.inbox}.*`, { callback: (err, msg) => (err ? this.failAll(err) : this.deliver(msg)) });
  }

  /** Up to `max` messages of `stream` from sequence `seq` on (the first stored at or after it). */
  async read(stream: string, seq: number, max: number): Promise<StreamMessage[]> {
    if (max <= 0) return [];
    // Consumers idle for half the time the server keeps them are not trusted to be there any more.
    const now = Date.now();
    for (let i = this.idle.length - 1; i >= 0; i--) if (now - this.idle[i]!.usedAt > INACTIVE_MS / 2) this.forget(this.idle.splice(i, 1)[0]!);
    const at = this.idle.findIndex((c) => c.stream === stream && c.nextSeq === seq);
    let consumer = at >= 0 ? this.idle.splice(at, 1)[0]! : await this.create(stream, seq);
    let messages: StreamMessage[];
    try {
      messages = await this.pull(consumer, max);
    } catch (err) {
      this.forget(consumer);
      if (at < 0) throw err;
      // A consumer kept from an earlier read may have gone with a server: once more with a new one.
      consumer = await this.create(stream, seq);
      try {
        messages = await this.pull(consumer, max);
      } catch (again) {
        this.forget(consumer);
        throw again;
      }
    }
    consumer.usedAt = Date.now();
    if (messages.length > 0) consumer.nextSeq = messages.at(-1)!.seq + 1;
    this.idle.push(consumer);
    while (this.idle.length > this.options.maxIdleConsumers) this.forget(this.idle.shift()!);
    return messages;
  }

  /** Forgets the consumers of `stream` (it was deleted or purged). */
  dropStream(stream: string): void {
    for (let i = this.idle.length - 1; i >= 0; i--) if (this.idle[i]!.stream === stream) this.idle.splice(i, 1);
  }

  /** Deletes the idle consumers and stops listening. */
  async close(): Promise<void> {
    const idle = this.idle.splice(0);
    await Promise.allSettled(idle.map((c) => this.jsm.consumers.delete(c.stream, c.name)));
    this.sub.unsubscribe();
    this.failAll(new RivuletError('log_closed', 'the log is closed'));
  }

  /**
   * nats-server before 2.12 may place an ephemeral consumer of a replicated stream on a server that is
   * offline (nats-server#7165), and the creation then never answers: `jsm` has a short timeout, and a
   * creation that timed out is tried again, landing on a live server after a few tries.
   */
  private async create(stream: string, seq: number): Promise<IdleConsumer> {
    for (let attempt = 1; ; attempt++) {
      try {
        const info = await this.jsm.consumers.add(stream, {
          ack_policy: AckPolicy.None,
          deliver_policy: DeliverPolicy.StartSequence,
          opt_start_seq: Math.max(1, seq),
          inactive_threshold: nanos(INACTIVE_MS),
          mem_storage: true,
          num_replicas: 1,
        });
        return { stream, name: info.name, nextSeq: seq, usedAt: Date.now() };
      } catch (err) {
        if (attempt >= CREATE_ATTEMPTS || !(err instanceof Error) || err.name !== 'TimeoutError') throw err;
      }
    }
  }

  private forget(c: IdleConsumer): void {
    this.jsm.consumers.delete(c.stream, c.name).catch(() => undefined);
  }

  private pull(c: IdleConsumer, max: number): Promise<StreamMessage[]> {
    const id = String(this.nextPull++);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const pull = this.pulls.get(id);
        if (pull) this.end(id, pull, new RivuletError('server_timeout', `reading stream '${c.stream}': no answer from the NATS server within ${this.options.pullTimeoutMs} ms`));
      }, this.options.pullTimeoutMs);
      this.pulls.set(id, { consumer: c.name, max, messages: [], resolve, reject, timer });
      this.pullOf.set(c.name, id);
      this.nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${c.stream}.${c.name}`, JSON.stringify({ batch: max, no_wait: true }), { reply: `${this.inbox}.${id}` });
    });
  }

  private deliver(msg: Msg): void {
    if (msg.subject.startsWith(this.inbox)) {
      // A status on the pull's own subject: 404 "No Messages" or 408 "Request Timeout" end it.
      const id = msg.subject.slice(this.inbox.length + 1);
      const pull = this.pulls.get(id);
      if (!pull) return; // a pull that timed out
      const code = msg.headers?.code ?? 0;
      if (code === 404 || code === 408) this.end(id, pull);
      else this.end(id, pull, new RivuletError('server_error', `NATS server refused a read: ${code} ${msg.headers?.description ?? ''}`.trim()));
      return;
    }
    const meta = ackMetadata(msg.reply ?? '');
    const id = meta && this.pullOf.get(meta.consumer);
    const pull = id === undefined ? undefined : this.pulls.get(id);
    if (!meta || !pull) return;
    pull.messages.push({ seq: meta.seq, data: msg.data });
    if (pull.messages.length >= pull.max) this.end(id!, pull);
  }

  private end(id: string, pull: Pull, err?: Error): void {
    this.pulls.delete(id);
    if (this.pullOf.get(pull.consumer) === id) this.pullOf.delete(pull.consumer);
    clearTimeout(pull.timer);
    if (err) pull.reject(err);
    else pull.resolve(pull.messages);
  }

  private failAll(err: Error): void {
    for (const [id, pull] of this.pulls) this.end(id, pull, err);
  }
}

/**
 * The consumer and stream sequence of a delivered message, from its reply subject:
 * `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>` or, from newer servers,
 * `$JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<sseq>.…`.
 */
function ackMetadata(reply: string): { consumer: string; seq: number } | undefined {
  const tokens = reply.split('.');
  if (tokens[0] !== '$JS' || tokens[1] !== 'ACK') return undefined;
  const short = tokens.length === 9;
  const seq = Number(short ? tokens[5] : tokens[7]);
  const consumer = short ? tokens[3] : tokens[5];
  return consumer !== undefined && Number.isInteger(seq) && seq >= 1 ? { consumer, seq } : undefined;
}
