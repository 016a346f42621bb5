import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { waitFor } from './tmp.js';

/** A frame of the WebSocket API, loosely typed for assertions. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Frame = { type: string; id?: string; [k: string]: any };

/** A real WebSocket client that records every frame it receives. */
export class WsClient {
  readonly frames: Frame[] = [];
  private closeCode = 0;
  private closeReason = '';
  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => this.frames.push(JSON.parse(data.toString()) as Frame));
    socket.on('close', (code, reason) => {
      this.closeCode = code;
      this.closeReason = reason.toString();
    });
  }

  static async connect(url: string): Promise<WsClient> {
    const socket = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    return new WsClient(socket);
  }

  send(frame: unknown): void {
    this.socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Waits for a frame matching `match` and returns it. */
  next(what: string, match: (f: Frame) => boolean, timeoutMs?: number): Promise<Frame> {
    return waitFor(what, () => this.frames.find(match), timeoutMs);
  }

  /** All records received for subscription `id`, in arrival order. */
  records(id: string): Frame[] {
    return this.frames.filter((f) => f.type === 'records' && f.id === id).flatMap((f) => f.records as Frame[]);
  }

  /** Stops reading from the connection (as a client on a slow network would): the server's buffers fill. */
  pauseReading(): void {
    (this.socket as unknown as { _socket: Socket })._socket.pause();
  }

  resumeReading(): void {
    (this.socket as unknown as { _socket: Socket })._socket.resume();
  }

  /** Resolves with the close code and reason once the connection closed. */
  closed(): Promise<{ code: number; reason: string }> {
    if (this.socket.readyState === WebSocket.CLOSED) return Promise.resolve({ code: this.closeCode, reason: this.closeReason });
    return new Promise((resolve) => this.socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  close(): void {
    this.socket.close();
  }
}
