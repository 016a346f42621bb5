import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { bearerToken, wwwAuthenticate } from './auth/access.js';
import { AuthError, type Authenticator, type Principal } from './auth/authenticator.js';

/** The WebSocket endpoint of a server: its open connections, and how to close them all. */
export interface WebSocketEndpoint {
  readonly clients: ReadonlySet<WebSocket>;
  close(): Promise<void>;
}

function refuse(socket: Duplex, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  const body = JSON.stringify({ error: { code, message } });
  const head = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`, 'Content-Type: application/json; charset=utf-8', `Content-Length: ${Buffer.byteLength(body)}`, 'Connection: close',
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  // The server's sockets are half-open: without this, a peer that never closes keeps the socket forever.
  socket.once('finish', () => socket.destroy());
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
}

/**
 * Accepts WebSocket upgrades at `path` of `server` — checking credentials first (`Authorization:
 * Bearer` or `?access_token=`) and answering a refusal as the HTTP API would — and hands each
 * connection to `onConnection` with its caller. Upgrades are taken here rather than through the HTTP
 * framework so that an open connection holds no request and reply objects: at thousands of
 * connections, those are most of the memory.
 */
export function acceptWebSockets(server: Server, options: {
  path: string;
  maxPayload: number;
  auth: Authenticator;
  onConnection: (socket: WebSocket, principal: Principal) => void;
}): WebSocketEndpoint {
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxPayload, perMessageDeflate: false });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      return refuse(socket, 400, 'invalid_request', 'the request target is not a valid path');
    }
    if (url.pathname !== options.path) return refuse(socket, 404, 'not_found', `no WebSocket endpoint at ${url.pathname}; it is ${options.path}`);
    let principal: Principal;
    try {
      principal = options.auth.authenticate(bearerToken(req.headers.authorization, url.searchParams.get('access_token') ?? undefined));
    } catch (err) {
      if (!(err instanceof AuthError)) {
        console.error('WebSocket upgrade failed:', err);
        return refuse(socket, 500, 'internal', 'the server failed to handle the request');
      }
      return refuse(socket, err.status, err.code, err.message, err.status === 401 ? { 'WWW-Authenticate': wwwAuthenticate(err) } : {});
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      // A peer's protocol error (a frame over maxPayload, bad framing) closes its connection, which ws
      // does by itself; it must not reach the process as an unhandled error.
      ws.on('error', () => undefined);
      options.onConnection(ws, principal);
    });
  });
  return {
    clients: wss.clients,
    close: () => new Promise((resolve) => {
      for (const client of wss.clients) client.close(1001, 'server shutting down');
      // A peer that does not answer the close within a second is cut off.
      const cut = setTimeout(() => { for (const client of wss.clients) client.terminate(); }, 1000);
      wss.close(() => {
        clearTimeout(cut);
        resolve();
      });
    }),
  };
}
