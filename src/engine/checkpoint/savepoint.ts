import fs from 'node:fs';
import path from 'node:path';
import { writeFileDurably } from '../../core/durable-fs.js';
import { RivuletError } from '../../core/errors.js';
import type { StateBackend } from '../../state/state-backend.js';
import { checkpointPath, readCheckpoint, type Checkpoint } from './checkpoint-file.js';

/**
 * What a savepoint says of itself (`savepoint.json`): enough to know, without the pipeline's code,
 * which pipeline it belongs to, how far it had read and what state it holds.
 */
export interface SavepointManifest {
  format: 'rivulet-savepoint';
  version: 1;
  pipeline: string;
  name: string;
  createdAt: string;
  epoch: number;
  state: StateBackend['kind'];
  /** Next offsets per partition of each source topic. */
  positions: Record<string, number[]>;
  watermark: number | null;
  /** Each stateful operator's id and the shape of its state. */
  operators: Record<string, string>;
}

/** A savepoint could not be written or read. */
export class SavepointError extends RivuletError {
  override name = 'SavepointError';
}

const MANIFEST = 'savepoint.json';
const CHECKPOINT = 'checkpoint.json';

/**
 * Writes a savepoint of a pipeline that just committed: its checkpoint (without outputs, which are in
 * the log already), a copy of the state backend's data and, last, the manifest, whose presence marks
 * a complete savepoint.
 */
export async function writeSavepoint(dir: string, name: string, checkpointFile: string, state: StateBackend, sources: Record<string, string>): Promise<SavepointManifest> {
  if (fs.existsSync(dir)) throw new SavepointError('savepoint_exists', `a savepoint exists at ${dir}; choose another name`);
  const cp = readCheckpoint(checkpointFile);
  if (!cp) throw new SavepointError('no_checkpoint', `pipeline has no checkpoint at ${checkpointFile}`);
  fs.mkdirSync(dir, { recursive: true });
  writeFileDurably(path.join(dir, CHECKPOINT), JSON.stringify({ ...cp, outputs: [] } satisfies Checkpoint));
  await state.backup(path.join(dir, 'state'));
  const manifest: SavepointManifest = {
    format: 'rivulet-savepoint',
    version: 1,
    pipeline: cp.pipeline,
    name,
    createdAt: new Date(cp.committedAt).toISOString(),
    epoch: cp.epoch,
    state: state.kind,
    positions: Object.fromEntries(Object.entries(cp.sources).map(([id, s]) => [sources[id] ?? id, s.positions])),
    watermark: cp.watermark,
    operators: cp.schemas ?? {},
  };
  writeFileDurably(path.join(dir, MANIFEST), JSON.stringify(manifest, null, 2));
  return manifest;
}

/** Reads and checks a savepoint's manifest. */
export function readSavepoint(dir: string): SavepointManifest {
  let manifest: SavepointManifest;
  try {
    manifest = JSON.parse(fs.readFileSync(path.join(dir, MANIFEST), 'utf8')) as SavepointManifest;
  } catch (err) {
    throw new SavepointError('invalid_savepoint', `${dir} is not a complete savepoint (no readable ${MANIFEST}): ${(err as Error).message}`, { cause: err });
  }
  if (manifest.format !== 'rivulet-savepoint' || manifest.version !== 1) {
    throw new SavepointError('invalid_savepoint', `${dir}: ${MANIFEST} is not a Rivulet savepoint of format version 1`);
  }
  return manifest;
}

/**
 * Makes a savepoint the pipeline's state in a data directory, before the pipeline starts: its
 * checkpoint becomes the pipeline's, and its LMDB data (if any) replaces the pipeline's. The pipeline
 * then reads on from the savepoint's positions; results it already appended after them are appended again.
 */
export function restoreSavepoint(dir: string, dataDir: string): SavepointManifest {
  const manifest = readSavepoint(dir);
  const stateDir = path.join(dataDir, 'state', manifest.pipeline);
  fs.rmSync(stateDir, { recursive: true, force: true });
  if (fs.existsSync(path.join(dir, 'state', 'data.mdb'))) {
    fs.mkdirSync(stateDir, { recursive: true });
    const copy = path.join(stateDir, 'data.mdb');
    fs.copyFileSync(path.join(dir, 'state', 'data.mdb'), copy);
    const fd = fs.openSync(copy, 'r+');
    try {
      fs.fsyncSync(fd); // on disk before the checkpoint that refers to it
    } finally {
      fs.closeSync(fd);
    }
  }
  const target = checkpointPath(path.join(dataDir, 'checkpoints'), manifest.pipeline);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  writeFileDurably(target, fs.readFileSync(path.join(dir, CHECKPOINT), 'utf8'));
  return manifest;
}
