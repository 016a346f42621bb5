/**
 * A pipeline that reads the Nexmark stream and drops every event: with the input generated as it is
 * read (`nexmarkShare` with `lazy`), its figures on 1 and on N tasks show what the machine gives for
 * generating and reading events on N threads, before any query work or exchange.
 */
import { definePipeline, type PipelineDefinition } from '../../src/mod.js';
import type { NexmarkEvent } from '../../examples/nexmark/events.js';
import { NEXMARK_TOPIC, OUT_OF_ORDERNESS } from '../../examples/nexmark/queries.js';

export const dropAll: PipelineDefinition = definePipeline({
  name: 'nexmark-drop-all',
  setup(app) {
    app.stream<NexmarkEvent>(NEXMARK_TOPIC, { time: 'dateTime', outOfOrderness: OUT_OF_ORDERNESS }).filter(() => false).to('dropped');
  },
});
