/**
 * Child process of the log benchmark: `node --import tsx bench/log/replay-child.ts <dir> <perRead>`
 * opens the log in `<dir>`, reads its whole bench topic and prints one JSON {@link ChildReport} on stdout.
 * A fresh process, so its peak RSS is the replay's alone.
 */
import { replayTopic, type ReplayResult } from './embedded.js';

/** What the child prints. RSS in bytes. */
export interface ChildReport extends ReplayResult {
  /** RSS before the log was opened (node, tsx and the loaded modules). */
  startRss: number;
  /** Largest RSS seen, sampled after every read call and every 5 ms. */
  peakRss: number;
}

const [dir, perRead] = process.argv.slice(2);
if (!dir || !perRead) throw new Error('usage: replay-child.ts <dir> <records per read>');
const startRss = process.memoryUsage.rss();
let peakRss = startRss;
const sample = () => {
  const rss = process.memoryUsage.rss();
  if (rss > peakRss) peakRss = rss;
};
const sampler = setInterval(sample, 5);
const result = await replayTopic(dir, Number(perRead), sample);
clearInterval(sampler);
sample();
const report: ChildReport = { ...result, startRss, peakRss };
process.stdout.write(`${JSON.stringify(report)}\n`);
