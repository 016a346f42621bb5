import { jetstream, JetStreamApiError, jetstreamManager, StorageType, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { KV, KvEntry } from '@nats-io/kv';
import { Kvm } from '@nats-io/kv';
import { nuid, type NatsConnection } from '@nats-io/transport-node';
import { RivuletError } from '../../core/errors.js';
import { checkCoordinationName, VersionConflictError, type Coordination, type LeaseHolder, type VersionedDocument } from '../coordination.js';
import { escapeName, unescapeName } from './names.js';

/** Documents are cut into messages of at most this size (NATS's default max_payload is 1 MiB). */
const CHUNK = 512 * 1024;
const REQUEST_TIMEOUT_MS = 2000;
/** The KV "wrong last sequence" error: someone wrote the key since it was read. */
const WRONG_LAST_SEQUENCE = 10071;

/** What the documents bucket holds per document: where its data is. */
interface Pointer {
  version: number;
  /** The data's messages are `<ns>.doc.<id>.<i>` for i < chunks. */
  id: string;
  chunks: number;
}

interface Lease {
  owner: string;
  expiresAt: number;
}

/**
 * {@link Coordination} on JetStream. A document's data goes into a stream as messages of at most
 * 512 KiB under a fresh id; a key-value bucket then points at it, changed with compare-and-set on the
 * key's revision, so a document of any size replaces the old one atomically. Leases are entries of a
 * second bucket holding owner and expiry, taken and renewed with compare-and-set; their expiry is the
 * taking process's wall clock, so the machines' clocks must agree to well within a lease's length.
 */
export class JetStreamCoordination implements Coordination {
  private constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly docs: KV,
    private readonly leasesKv: KV,
    private readonly stream: string,
    private readonly namespace: string,
  ) {}

  /**
   * Requests time out after 2 s rather than the client's 5: a lease is renewed a few times per lease
   * length, and a request that gets no answer (a server of the cluster just died) is better given up
   * and asked again than waited for.
   */
  static async open(nc: NatsConnection, namespace: string, replicas: number): Promise<JetStreamCoordination> {
    const js = jetstream(nc, { timeout: REQUEST_TIMEOUT_MS });
    const jsm = await jetstreamManager(nc, { timeout: REQUEST_TIMEOUT_MS });
    const kvm = new Kvm(js);
    const bucket = { history: 1, replicas, storage: StorageType.File };
    const stream = `${namespace}_docs`;
    const [docs, leases] = await Promise.all([kvm.create(`${namespace}-docs`, bucket), kvm.create(`${namespace}-leases`, bucket)]);
    try {
      await jsm.streams.info(stream);
    } catch {
      await jsm.streams.add({ name: stream, subjects: [`${namespace}.doc.>`], storage: StorageType.File, num_replicas: replicas, description: 'Rivulet documents (checkpoints)' });
    }
    return new JetStreamCoordination(js, jsm, docs, leases, stream, namespace);
  }

  private subject(id: string, chunk: number): string {
    return `${this.namespace}.doc.${id}.${chunk}`;
  }

  private static pointer(entry: KvEntry | null): Pointer | undefined {
    return entry && entry.operation === 'PUT' ? (entry.json<Pointer>()) : undefined;
  }

  async getDocument(name: string): Promise<VersionedDocument | undefined> {
    const key = escapeName(checkCoordinationName(name));
    // A writer replacing the document removes the old data after switching the pointer: read again then.
    for (let attempt = 0; attempt < 5; attempt++) {
      const pointer = JetStreamCoordination.pointer(await this.docs.get(key));
      if (!pointer) return undefined;
      const parts: Uint8Array[] = [];
      for (let i = 0; i < pointer.chunks; i++) {
        const m = await this.jsm.streams.getMessage(this.stream, { last_by_subj: this.subject(pointer.id, i) }).catch(() => null);
        if (!m) break;
        parts.push(m.data);
      }
      if (parts.length === pointer.chunks) return { version: pointer.version, data: Buffer.concat(parts) };
    }
    throw new RivuletError('document_unreadable', `document '${name}' keeps changing while being read`);
  }

  async putDocument(name: string, data: Uint8Array, expected: number): Promise<number> {
    const key = escapeName(checkCoordinationName(name));
    const entry = await this.docs.get(key);
    const old = JetStreamCoordination.pointer(entry);
    if ((old?.version ?? 0) !== expected) throw new VersionConflictError(name, expected, old?.version ?? 0);
    const id = nuid.next();
    const chunks = Math.max(1, Math.ceil(data.length / CHUNK));
    await Promise.all(Array.from({ length: chunks }, (_, i) => this.js.publish(this.subject(id, i), data.subarray(i * CHUNK, (i + 1) * CHUNK), { expect: { streamName: this.stream } })));
    const pointer: Pointer = { version: expected + 1, id, chunks };
    try {
      if (entry) await this.docs.update(key, JSON.stringify(pointer), entry.revision);
      else await this.docs.create(key, JSON.stringify(pointer));
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === WRONG_LAST_SEQUENCE) {
        await this.purge(id);
        const now = JetStreamCoordination.pointer(await this.docs.get(key));
        throw new VersionConflictError(name, expected, now?.version ?? 0);
      }
      // No answer (a timeout): the switch may have happened. The new data stays unless the pointer
      // shows it did not; a pointer must never name purged data.
      const now = await this.docs.get(key).then(JetStreamCoordination.pointer, () => undefined);
      if (now?.id !== id) {
        if (now !== undefined) await this.purge(id);
        throw err;
      }
    }
    if (old) await this.purge(old.id);
    return pointer.version;
  }

  async deleteDocument(name: string): Promise<void> {
    const key = escapeName(checkCoordinationName(name));
    const old = JetStreamCoordination.pointer(await this.docs.get(key));
    await this.docs.purge(key);
    if (old) await this.purge(old.id);
  }

  private async purge(id: string): Promise<void> {
    await this.jsm.streams.purge(this.stream, { filter: `${this.namespace}.doc.${id}.>` }).catch(() => undefined);
  }

  async acquireLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    const key = escapeName(checkCoordinationName(name));
    const entry = await this.leasesKv.get(key);
    const now = Date.now();
    const held = entry && entry.operation === 'PUT' ? entry.json<Lease>() : undefined;
    if (held && held.owner !== owner && held.expiresAt > now) return false;
    const lease = JSON.stringify({ owner, expiresAt: now + ttlMs } satisfies Lease);
    try {
      if (entry) await this.leasesKv.update(key, lease, entry.revision);
      else await this.leasesKv.create(key, lease);
      return true;
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === WRONG_LAST_SEQUENCE) return false;
      throw err;
    }
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    const key = escapeName(checkCoordinationName(name));
    const entry = await this.leasesKv.get(key);
    if (!entry || entry.operation !== 'PUT' || entry.json<Lease>().owner !== owner) return;
    await this.leasesKv.delete(key, { previousSeq: entry.revision }).catch(() => undefined);
  }

  /**
   * The bucket's keys come from its stream's subjects (a stream info request), not from a consumer:
   * nats-server before 2.12 may place a new consumer on a server that is down, and listing the
   * workers must go on while one is.
   */
  async leases(prefix: string): Promise<LeaseHolder[]> {
    const now = Date.now();
    const out: LeaseHolder[] = [];
    const base = `$KV.${this.namespace}-leases.`;
    const info = await this.jsm.streams.info(`KV_${this.namespace}-leases`, { subjects_filter: `${base}>` });
    for (const subject of Object.keys(info.state.subjects ?? {})) {
      const k = subject.slice(base.length);
      const name = unescapeName(k);
      if (!name.startsWith(prefix)) continue;
      const e = await this.leasesKv.get(k);
      if (!e || e.operation !== 'PUT') continue;
      const lease = e.json<Lease>();
      if (lease.expiresAt > now) out.push({ name, owner: lease.owner, expiresAt: lease.expiresAt });
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }
}
