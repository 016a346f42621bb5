/**
 * A child process of `rivulet loadtest`: holds its share of the WebSocket subscribers (one process can
 * hold only so many sockets) and reports what they receive (see `loadtest-worker-core.ts`).
 */
import WebSocket from 'ws';
import { workerMain } from './loadtest-worker-core.js';

workerMain((task, index, events) => new Promise((resolve) => {
  const socket = new WebSocket(task.token ? `${task.url}?access_token=${encodeURIComponent(task.token)}` : task.url);
  const close = () => socket.terminate();
  const done = (subscribed: boolean) => resolve({ subscribed, close });
  socket.on('open', () => {
    const filter = task.keys > 0 ? { filter: { keys: [`k${index % task.keys}`] } } : {};
    socket.send(JSON.stringify({ type: 'subscribe', id: 'l', topic: task.topic, from: 'latest', ...filter }));
  });
  socket.on('message', (data) => {
    const frame = JSON.parse(data.toString()) as { type: string; records?: { value: { sentAt?: unknown } }[]; message?: string };
    if (frame.type === 'records') for (const r of frame.records!) events.received(r.value?.sentAt);
    else if (frame.type === 'subscribed') done(true);
    else if (frame.type === 'error') {
      events.error(frame.message ?? 'error frame');
      done(false);
    }
  });
  socket.on('error', (err) => {
    events.error(err.message);
    done(false);
  });
  // Closed before it subscribed (a refused upgrade, a server going away): it will not.
  socket.on('close', () => done(false));
}));
