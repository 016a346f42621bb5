import { checkCoordinationName, VersionConflictError, type Coordination, type LeaseHolder, type VersionedDocument } from '../coordination.js';
import { RESP_TYPES, type createClient } from 'redis';

type Client = ReturnType<typeof createClient>;

/** KEYS[1]: the document; ARGV[1]: the expected version; ARGV[2]: the data. Answers {1, new version} or {0, actual version}. */
const PUT_DOCUMENT = `
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if v ~= tonumber(ARGV[1]) then return {0, v} end
redis.call('HSET', KEYS[1], 'v', v + 1, 'd', ARGV[2])
return {1, v + 1}
`;

/** KEYS[1]: the lease; ARGV[1]: the owner; ARGV[2]: ttl ms. Redis's own clock expires it. */
const ACQUIRE = `
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`;

/**
 * {@link Coordination} on Redis: a document is a hash (`v` version, `d` data) changed by a script
 * that compares the version; a lease is a key holding its owner with Redis's own expiry (`PX`), so
 * no two machines' clocks are compared.
 */
export class RedisCoordination implements Coordination {
  constructor(private readonly client: Client, private readonly namespace: string) {}

  private doc(name: string): string {
    return `${this.namespace}:doc:${checkCoordinationName(name)}`;
  }

  private lease(name: string): string {
    return `${this.namespace}:lease:${checkCoordinationName(name)}`;
  }

  async getDocument(name: string): Promise<VersionedDocument | undefined> {
    const reply = await this.client.sendCommand(['HMGET', this.doc(name), 'v', 'd'], { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } }) as unknown as [Buffer | null, Buffer | null];
    const [v, d] = reply;
    if (v === null || d === null) return undefined;
    return { version: Number(v.toString()), data: new Uint8Array(d) };
  }

  async putDocument(name: string, data: Uint8Array, expected: number): Promise<number> {
    const [ok, version] = await this.client.sendCommand(['EVAL', PUT_DOCUMENT, '1', this.doc(name), String(expected), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]) as unknown as [number, number];
    if (ok !== 1) throw new VersionConflictError(name, expected, version);
    return version;
  }

  async deleteDocument(name: string): Promise<void> {
    await this.client.del(this.doc(name));
  }

  async acquireLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    return Number(await this.client.sendCommand(['EVAL', ACQUIRE, '1', this.lease(name), owner, String(Math.max(1, Math.ceil(ttlMs)))])) === 1;
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    await this.client.sendCommand(['EVAL', RELEASE, '1', this.lease(name), owner]);
  }

  async leases(prefix: string): Promise<LeaseHolder[]> {
    const base = `${this.namespace}:lease:`;
    const out: LeaseHolder[] = [];
    const now = Date.now();
    for await (const keys of this.client.scanIterator({ MATCH: `${base}${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`, COUNT: 500 })) {
      for (const key of keys) {
        const [owner, ttl] = await Promise.all([this.client.get(key), this.client.pTTL(key)]);
        if (owner !== null && ttl > 0) out.push({ name: key.slice(base.length), owner, expiresAt: now + ttl });
      }
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }
}
