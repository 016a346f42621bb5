/**
 * One embedded-log append case alone, for profiling:
 *
 *     node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/log/profile-append.ts <data dir> [recordBytes] [batch] [interval|always] [seconds]
 *     npx tsx bench/lib/cpuprofile-top.ts /tmp/prof/<file>.cpuprofile
 *
 * Defaults: 100 B, batches of 1000, fsync every 10 ms, 10 s. The log is written to `<data dir>`, which
 * the caller removes afterwards (deleting gigabytes here would show up in the profile). Prints the
 * records/s on stderr.
 */
import fs from 'node:fs';
import { progress } from '../lib/report.js';
import { embeddedAppend } from './embedded.js';
import { caseLabel, makeValues, recordsPerSecond, type AppendCase } from './workload.js';

const [dir, bytes = '100', batch = '1000', durability = 'interval', seconds = '10'] = process.argv.slice(2);
if (!dir) throw new Error('usage: profile-append.ts <data dir> [recordBytes] [batch] [interval|always] [seconds]');
if (fs.existsSync(dir) && fs.readdirSync(dir).length > 0) throw new Error(`${dir} is not empty`);
if (durability !== 'interval' && durability !== 'always') throw new Error(`durability must be interval or always, not ${durability}`);
const c: AppendCase = { recordBytes: Number(bytes), batch: Number(batch), concurrency: Number(batch) === 1 ? 64 : 1, durability };
const r = await embeddedAppend(dir, c, makeValues(c.recordBytes, 4096), { seconds: Number(seconds), warmupSeconds: 0.5, maxBytes: Infinity });
progress(`${caseLabel(c)}: ${Math.round(recordsPerSecond(r))} records/s over ${r.seconds.toFixed(1)} s`);
