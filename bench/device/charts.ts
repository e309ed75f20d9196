// The PNG charts of a device run drawn here, from the JSON it brought back. `bench/device.sh pack` leaves the
// chart renderer (resvg and fonts) out when the working tree leaves no room for it in what the device tool carries;
// the results then come back as text, markdown and JSON only, and this draws what `fcnc bench --png` and
// `fcnc profile --png` would have drawn there.
// Run: node bin/run-ts.js bench/device/charts.ts DIR   (DIR: the run's $OUT, with table2/ and profile/ in it)
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchChart, type BenchJson } from '../../runtime/bench.ts';
import { profileChart } from '../../runtime/profile_chart.ts';
import type { Profile } from '../../runtime/profile.ts';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node bin/run-ts.js bench/device/charts.ts DIR (the folder a device run wrote)');
  process.exit(2);
}
let drawn = 0;
const table2 = join(dir, 'table2', 'bench.json');
if (existsSync(table2)) {
  const png = join(dir, 'table2', 'bench.png');
  writeFileSync(png, await benchChart(JSON.parse(readFileSync(table2, 'utf8')) as BenchJson));
  console.log(`wrote ${png}`);
  drawn++;
}
const profile = join(dir, 'profile', 'profile.json');
if (existsSync(profile)) {
  const png = join(dir, 'profile', 'profile.png');
  // As `fcnc profile --png` draws it (its default --top of 20).
  writeFileSync(png, await profileChart(JSON.parse(readFileSync(profile, 'utf8')) as Profile, { top: 20 }));
  console.log(`wrote ${png}`);
  drawn++;
}
if (drawn === 0) {
  console.error(`${dir}: neither table2/bench.json nor profile/profile.json`);
  process.exit(1);
}
