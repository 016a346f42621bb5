import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './free-port.js';

/** A PostgreSQL server of the test's own, on a free loopback port, with its data in a temporary directory. */
export interface TestPostgres {
  /** `postgres://postgres@127.0.0.1:PORT/postgres` (trust authentication). */
  url: string;
  port: number;
  /** Stops the server (`kill: true`: SIGKILL, as a crash) and, unless `keep`, removes its data. */
  stop(options?: { kill?: boolean; keep?: boolean }): Promise<void>;
  /** Starts it again on the same port and data after a stop with `keep`. */
  restart(): Promise<void>;
}

function binDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root) ? fs.readdirSync(root).filter((v) => fs.existsSync(path.join(root, v, 'bin', 'initdb'))) : [];
  if (versions.length === 0) throw new Error('PostgreSQL server binaries are needed at /usr/lib/postgresql/*/bin: run \'apt-get install -y postgresql\' (npm test does it as root)');
  return path.join(root, versions.sort((a, b) => Number(b) - Number(a))[0]!, 'bin');
}


/** PostgreSQL refuses to run as root: as root, its commands run as the `postgres` user. */
function asServerUser(cmd: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
}

async function waitReady(bin: string, port: number, dir: string, proc: ChildProcess, out: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`postgres exited with ${proc.exitCode}:\n${out()}`);
    try {
      execFileSync(path.join(bin, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port), '-q'], { stdio: 'ignore' });
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`postgres in ${dir} did not accept connections within 30 s:\n${out()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Starts a fresh PostgreSQL server (initdb, then postgres) for one test file. */
export async function startPostgres(): Promise<TestPostgres> {
  const bin = binDir();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rivulet-pg-'));
  const data = path.join(dir, 'data');
  if (process.getuid?.() === 0) execFileSync('chown', ['-R', 'postgres', dir]);
  const [initCmd, initArgs] = asServerUser(path.join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  execFileSync(initCmd, initArgs, { stdio: 'pipe' });
  const port = await freePort();
  let proc: ChildProcess;
  let output = '';
  const start = async () => {
    const [cmd, args] = asServerUser(path.join(bin, 'postgres'), ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'max_connections=20']);
    output = '';
    proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    await waitReady(bin, port, dir, proc, () => output);
  };
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    async stop(options = {}) {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        // runuser passes signals on to postgres; SIGQUIT is postgres's immediate shutdown, SIGKILL a crash.
        execFileSync('pkill', [options.kill ? '-KILL' : '-QUIT', '-f', `postgres -D ${data}`]);
        await exited;
      }
      if (!options.keep) fs.rmSync(dir, { recursive: true, force: true });
    },
    restart: start,
  };
}
