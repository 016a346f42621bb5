/** Load test subscribers of the Socket.IO baseline (see `src/cli/loadtest-worker-core.ts`). */
import { io } from 'socket.io-client';
import { workerMain } from '../src/cli/loadtest-worker-core.js';

workerMain((task, index, events) => new Promise((resolve) => {
  const socket = io(task.url, { transports: ['websocket'], reconnection: false, forceNew: true });
  const close = () => socket.disconnect();
  const done = (subscribed: boolean) => resolve({ subscribed, close });
  socket.on('connect', () => {
    if (task.keys > 0) socket.emit('join', `k${index % task.keys}`);
    else done(true);
  });
  socket.on('joined', () => done(true));
  socket.on('event', (e: { sentAt?: unknown }) => events.received(e.sentAt));
  socket.on('connect_error', (err) => {
    events.error(err.message);
    done(false);
  });
}));
