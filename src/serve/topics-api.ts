import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { invalidRequest } from './request-errors.js';
import type { TopicAdmin } from './topic-admin.js';

/** Topic settings as JSON: an object; the log checks each setting and names the one that is wrong. */
const Settings = z.record(z.string(), z.unknown(), { error: 'must be a JSON object of topic settings, e.g. { "retentionMs": 86400000 }' });
const CreateTopic = z.object({
  name: z.string(),
  partitions: z.number().int().positive().max(1024).optional(),
  config: Settings.optional(),
}).strict();

/**
 * Registers topic administration on `app`: list, create, describe, change the settings of and delete
 * topics (routes and bodies in docs/api.md, "Topics"); the list holds the topics `visibleTo` the caller. Errors are thrown as RivuletErrors for the
 * server's error handler.
 */
export function registerTopicsApi(app: FastifyInstance, admin: TopicAdmin, visibleTo: (req: FastifyRequest) => (topic: string) => boolean = () => () => true): void {
  app.get('/v1/topics', async (req) => ({ topics: (await admin.list()).filter((t) => visibleTo(req)(t.name)) }));

  app.post('/v1/topics', async (req, reply) => {
    const body = CreateTopic.safeParse(req.body);
    if (!body.success) throw invalidRequest(body.error, 'topic');
    return reply.code(201).send(await admin.create(body.data));
  });

  app.get<{ Params: { topic: string } }>('/v1/topics/:topic', (req) => admin.describe(req.params.topic));

  app.patch<{ Params: { topic: string } }>('/v1/topics/:topic/config', async (req) => {
    const patch = Settings.safeParse(req.body);
    if (!patch.success) throw invalidRequest(patch.error, 'config');
    return admin.updateConfig(req.params.topic, patch.data);
  });

  app.delete<{ Params: { topic: string } }>('/v1/topics/:topic', async (req, reply) => {
    await admin.delete(req.params.topic);
    return reply.code(204).send();
  });
}
