#!/usr/bin/env node
// Entry point of the `fcnc` command. The compiler is written in TypeScript and run through tsx's loader,
// so a fresh clone needs no build step: `npm ci && npx fcnc --help`.
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../compiler/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
