// A writer of the tuning cache for the concurrency test (test/runtime/tune.test.ts):
// node bin/run-ts.js test/runtime/tune_writer.script.ts FILE PREFIX COUNT — writes COUNT entries one at a time.
import { writeCache, type AdapterIdentity } from '../../runtime/tune.ts';

const [file, prefix, count] = process.argv.slice(2);
const adapter: AdapterIdentity = JSON.parse(process.env.TUNE_TEST_ADAPTER!);
const checksum = process.env.TUNE_TEST_CHECKSUM!;
for (let i = 0; i < Number(count); i++)
  writeCache(file!, adapter, checksum, {
    [`${prefix}-${i}`]: {
      name: 'register 8×8',
      tuning: { 'conv2d.variant': 0, 'conv2d.tm': 8, 'conv2d.tn': 8 },
      ms: i,
      times: { 'register 8×8': i },
      date: new Date().toISOString(),
    },
  });
