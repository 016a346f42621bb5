import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildReport } from './replay-child.js';

const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'replay-child.ts');

/** Reads the whole bench topic of the log in `dir` in a fresh `node --import tsx` process and returns its report. */
export function replayInChild(dir: string, perRead: number): Promise<ChildReport> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', child, dir, String(perRead)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
    proc.once('error', reject);
    proc.once('exit', (code, signal) => {
      if (code !== 0) return reject(new Error(`replay child exited with ${code ?? signal}:\n${err}`));
      try {
        resolve(JSON.parse(out) as ChildReport);
      } catch {
        reject(new Error(`replay child printed no report:\n${out}\n${err}`));
      }
    });
  });
}
