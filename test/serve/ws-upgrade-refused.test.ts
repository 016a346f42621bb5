import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import { Authenticator } from '../../src/serve/auth/authenticator.js';
import { acceptWebSockets } from '../../src/serve/ws-upgrade.js';

test('a refused upgrade does not keep its socket open when the peer never closes its side', async () => {
  const server = http.createServer();
  const ws = acceptWebSockets(server, { path: '/v1/ws', maxPayload: 1 << 20, auth: new Authenticator({ apiKeys: [{ id: 'k', key: 'k'.repeat(32), scopes: ['admin'] }] } as never), onConnection: () => undefined });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const peers: net.Socket[] = [];
  for (let i = 0; i < 5; i++) {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let got = '';
    s.on('data', (d) => { got += d; });
    await new Promise((r) => s.once('connect', r));
    s.write('GET /v1/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
    await new Promise((r) => s.once('end', r));
    assert.match(got, /^HTTP\/1.1 401/);
    peers.push(s);
  }
  await new Promise((r) => setTimeout(r, 300));
  const open = await new Promise<number>((r) => server.getConnections((_e, n) => r(n)));
  for (const p of peers) p.destroy();
  await ws.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  assert.equal(open, 0, `${open} refused sockets still held by the server`);
});
