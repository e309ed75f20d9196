// The demo as a benchmark: runs `npm run demo` 4× longer (bin/demo.js --long: synthetic data, a narrow EncNet+JPU trained from
// scratch, the official evaluation on held-out images, segmentations) and records the curves, the log, the
// metrics, three segmented images, the time taken and the adapter in bench/results/demo-<gpu|software>/.
// Run: npm run bench:demo   (on an otherwise idle machine: the time is part of the record)
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { openDevice } from '../runtime/device.ts';

const ROOT = join(import.meta.dirname, '..');
const dev = await openDevice();
const kind = dev.kind === 'gpu' ? 'gpu' : 'software';
dev.destroy();
const r = spawnSync(
  process.execPath,
  [join(ROOT, 'bin', 'demo.js'), '--long', '--record', join('bench', 'results', `demo-${kind}`)],
  {
    cwd: ROOT,
    stdio: 'inherit',
  },
);
process.exit(r.status ?? 1);
