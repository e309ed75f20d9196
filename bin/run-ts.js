#!/usr/bin/env node
// Runs a TypeScript file (a bench script, a generated script) with tsx's loader: `node bin/run-ts.js FILE args…`.
// The script runs in a child process whose stderr is filtered of Dawn's native noise (bin/quiet-dawn.js).
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { adoptParentTerminal, runQuietly } from './quiet-dawn.js';

const [file, ...rest] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bin/run-ts.js FILE.ts [args…]');
  process.exit(2);
}
if (process.env.FCNC_QUIET_CHILD !== '1' && process.env.FCNC_RAW_STDERR !== '1') {
  process.exitCode = await runQuietly(new URL(import.meta.url).pathname, [file, ...rest]);
} else {
  adoptParentTerminal();
  const { register } = await import('tsx/esm/api');
  register();
  process.argv = [process.argv[0], resolve(file), ...rest];
  await import(pathToFileURL(resolve(file)).href);
}
