/**
 * The baseline server of `npm run bench -- fanout`: Socket.IO broadcasting each appended event to
 * every client (or, keyed, to the room of its key), as an application built on Socket.IO would.
 * POST /events takes a JSON array; GET /rss gives its resident memory. Listens on the port given as argument.
 */
import http from 'node:http';
import { Server } from 'socket.io';

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/rss') {
    res.end(JSON.stringify({ rss: process.memoryUsage().rss }));
    return;
  }
  if (req.method === 'POST' && req.url?.startsWith('/events')) {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const events = JSON.parse(Buffer.concat(chunks).toString()) as { key?: string }[];
      for (const e of events) {
        if (e.key !== undefined) io.to(e.key).emit('event', e);
        else io.emit('event', e);
      }
      res.end('{}');
    });
    return;
  }
  res.statusCode = 404;
  res.end();
});
const io = new Server(server, { transports: ['websocket'], perMessageDeflate: false });
io.on('connection', (socket) => {
  socket.on('join', (room: string) => { void socket.join(room); socket.emit('joined'); });
});
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  process.stdout.write(`port ${(server.address() as { port: number }).port}\n`);
});
