#!/usr/bin/env node
// Entry point of the `fcnc` command. The compiler is written in TypeScript and run through tsx's loader,
// so a fresh clone needs no build step: `npm ci && npx fcnc --help`. Commands that open a WebGPU device run in a
// child process whose stderr is filtered of Dawn's native noise (bin/quiet-dawn.js).
import { adoptParentTerminal, runQuietly } from './quiet-dawn.js';

const args = process.argv.slice(2);
const OPENS_DEVICE = new Set(['infer', 'run', 'train', 'bench', 'profile']);
if (
  OPENS_DEVICE.has(args[0] ?? '') &&
  process.env.FCNC_QUIET_CHILD !== '1' &&
  process.env.FCNC_RAW_STDERR !== '1'
) {
  process.exitCode = await runQuietly(new URL(import.meta.url).pathname, args);
} else {
  adoptParentTerminal();
  const { register } = await import('tsx/esm/api');
  register();
  const { main } = await import('../compiler/cli/main.ts');
  process.exitCode = await main(args);
}
