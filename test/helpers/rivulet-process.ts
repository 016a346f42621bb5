import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** A `rivulet start` child process on a free loopback port. */
export interface RivuletProcess {
  url: string;
  proc: ChildProcess;
  output(): string;
  /** Sends SIGTERM (clean stop) or SIGKILL and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Runs the real CLI (`rivulet start --port 0 --data DIR …`) and waits until it listens. Requests without
 * credentials may do anything (`--anonymous admin`) unless `anonymous` is false.
 */
export async function spawnRivulet(dataDir: string, args: string[] = [], options: { anonymous?: boolean } = {}): Promise<RivuletProcess> {
  const access = options.anonymous === false ? [] : ['--anonymous', 'admin'];
  const proc = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/cli/main.ts'), 'start', '--port', '0', '--data', dataDir, ...access, ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`rivulet did not start within 30 s:\n${out}`)), 30_000);
    const check = () => {
      const m = /Rivulet listening on (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    proc.stdout!.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`rivulet exited with ${code} before listening:\n${out}`));
    });
  });
  return {
    url,
    proc,
    output: () => out,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode === null) proc.kill(signal);
      return exited;
    },
  };
}

/** A `rivulet worker` child process. */
export interface WorkerProcess {
  proc: ChildProcess;
  output(): string;
  /** The tasks it reported taking, in order. */
  took(): string[];
  /** The tasks it holds now, as far as it reported: taken and not since released, lost or failed. */
  holding(): string[];
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Runs `rivulet worker …` and waits until it reports running. */
export async function spawnWorker(args: string[]): Promise<WorkerProcess> {
  const proc = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/cli/main.ts'), 'worker', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the worker did not start within 30 s:\n${out}`)), 30_000);
    proc.stdout!.on('data', () => {
      if (/^worker \S+ running/m.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the worker exited with ${code} before running:\n${out}`));
    });
  });
  return {
    proc,
    output: () => out,
    took: () => [...out.matchAll(/^took (\S+)/gm)].map((m) => m[1]!),
    holding: () => {
      const held = new Set<string>();
      for (const [, kind, task] of out.matchAll(/^(took|released|lost|failed) ([^\s:]+)/gm)) {
        if (kind === 'took') held.add(task!);
        else held.delete(task!);
      }
      return [...held];
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode === null) proc.kill(signal);
      return exited;
    },
  };
}
