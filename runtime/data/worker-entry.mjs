// Entry of the loader's worker threads. The runtime is TypeScript run through tsx, and a worker thread does not
// inherit the parent's module loader (under `node bin/run-ts.js`, `fcnc` or vitest alike), so the worker
// registers tsx's loader itself, then runs worker.ts.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
