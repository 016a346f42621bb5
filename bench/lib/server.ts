import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { freePort } from '../../test/helpers/free-port.js';
import { tempDir } from './temp.js';

/** A server process started by a benchmark, listening on 127.0.0.1. */
export interface ServerProcess {
  port: number;
  /** Its own temporary data directory. */
  dir: string;
  /** What it printed so far (stdout and stderr). */
  output(): string;
  /** Stops it (SIGTERM, SIGKILL after 5 s) and removes its directory. Safe to call twice. */
  stop(): Promise<void>;
  /** Kills it with SIGKILL, as a crash, and waits for it to exit; its directory stays until `stop()`. */
  kill(): Promise<void>;
}

/** How to start a server: its binary and arguments for a given port and data directory. */
export interface ServerSpec {
  /** Short name, used in the temp dir name and error messages. */
  name: string;
  command: string;
  args(port: number, dir: string): string[];
  /** How long to wait for the port to accept connections. Default 15 s. */
  startTimeoutMs?: number;
  /**
   * Open files the process may have (soft and hard limit), where {@link canRaiseOpenFiles} says this
   * machine allows it; else it inherits this process's limit.
   */
  openFiles?: number;
}

/**
 * Whether a server can be started with `n` open files (`prlimit`, from util-linux: raising the hard
 * limit needs root, up to the kernel's `fs.nr_open`). This machine gives a process 20,000.
 */
export function canRaiseOpenFiles(n: number): boolean {
  return spawnSync('prlimit', [`--nofile=${n}:${n}`, '--', 'true'], { stdio: 'ignore' }).status === 0;
}

const running = new Set<ChildProcess>();

process.on('exit', () => {
  for (const proc of running) proc.kill('SIGKILL');
});


function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Starts `spec` on a free loopback port in a fresh temp dir and waits until the port accepts
 * connections. The process is killed when this process exits, whatever happens.
 */
export async function startServer(spec: ServerSpec): Promise<ServerProcess> {
  const tmp = tempDir(spec.name);
  const port = await freePort();
  const raise = spec.openFiles !== undefined && canRaiseOpenFiles(spec.openFiles);
  const [command, args] = raise
    ? ['prlimit', [`--nofile=${spec.openFiles}:${spec.openFiles}`, '--', spec.command, ...spec.args(port, tmp.dir)]]
    : [spec.command, spec.args(port, tmp.dir)];
  const proc = spawn(command, args, { cwd: tmp.dir, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(proc);
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) resolve();
    proc.once('exit', () => resolve());
    proc.once('error', () => resolve());
  });
  let stopped = false;
  const server: ServerProcess = {
    port,
    dir: tmp.dir,
    output: () => out,
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (!stopped) {
        stopped = true;
        if (proc.exitCode === null && proc.signalCode === null) {
          proc.kill('SIGTERM');
          const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
          await exited;
          clearTimeout(timer);
        }
        running.delete(proc);
      }
      tmp.remove();
    },
  };
  const deadline = Date.now() + (spec.startTimeoutMs ?? 15_000);
  let spawnError: Error | undefined;
  proc.once('error', (err) => (spawnError = err));
  while (!(await accepts(port))) {
    if (spawnError || proc.exitCode !== null || Date.now() > deadline) {
      await server.stop();
      throw new Error(`${spec.name} did not start on port ${port}${spawnError ? `: ${spawnError.message}` : ''}\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return server;
}
