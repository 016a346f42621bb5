import { createHash } from 'node:crypto';
import { InvalidArgumentError } from '../../core/errors.js';

/**
 * How Rivulet's names map onto JetStream's. Topic, group and key names may hold characters that
 * subjects and stream names give meaning to ('.' separates subject tokens), so they are escaped
 * one-to-one: '_' becomes '__' and '.' becomes '_d'. Topic names are 200 characters at most, so an
 * escaped name fits in a stream name (a directory name on the server's disk).
 */
export function escapeName(name: string): string {
  return name.replace(/[_.]/g, (c) => (c === '_' ? '__' : '_d'));
}

/** The name {@link escapeName} escaped. */
export function unescapeName(escaped: string): string {
  return escaped.replace(/_(_|d)/g, (_, c: string) => (c === '_' ? '_' : '.'));
}

const NAMESPACE = /^[A-Za-z0-9-]{1,32}$/;

/** Checks a namespace: what keeps several Rivulet deployments on one NATS system apart. */
export function checkNamespace(ns: string): string {
  if (typeof ns !== 'string' || !NAMESPACE.test(ns)) {
    throw new InvalidArgumentError(`NATS namespace must be 1-32 letters, digits or '-', got '${String(ns)}'`, 'invalid_config');
  }
  return ns;
}

/** The names one deployment uses on the NATS system. */
export class JetStreamNames {
  constructor(readonly namespace: string) {}

  /** One stream per partition: each has its own sequence (the partition's offsets) and its own leader in a cluster. */
  stream(topic: string, partition: number): string {
    return `${this.namespace}_${escapeName(topic)}_${partition}`;
  }

  /** The subject a partition's records are published to; compacted topics add a token per key. */
  subject(topic: string, partition: number): string {
    return `${this.namespace}.t.${escapeName(topic)}.${partition}`;
  }

  /**
   * The subject of a keyed record of a compacted topic: the stream keeps one message per subject, so
   * one per key. Long keys are hashed to keep subjects short (the record itself holds the key).
   */
  keySubject(topic: string, partition: number, key: string): string {
    const token = key.length <= 128 ? Buffer.from(key).toString('base64url') : `~${createHash('sha256').update(key).digest('base64url')}`;
    return `${this.subject(topic, partition)}.${token || '='}`;
  }

  /** Where appenders announce new end offsets of a topic. */
  notify(topic: string): string {
    return `${this.namespace}.n.${escapeName(topic)}`;
  }

  notifyAll(): string {
    return `${this.namespace}.n.*`;
  }

  /** The key-value bucket of topic metadata (key: the topic name). */
  get topicsBucket(): string {
    return `${this.namespace}-topics`;
  }

  /** The key-value bucket of consumer group offsets (key: group.topic.partition, escaped). */
  get offsetsBucket(): string {
    return `${this.namespace}-offsets`;
  }

  offsetKey(group: string, topic: string, partition: number): string {
    return `${escapeName(group)}.${escapeName(topic)}.${partition}`;
  }
}
