// Shared test helpers: golden files behind one update switch (UPDATE_GOLDEN=1), paths.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { expect } from 'vitest';

export const ROOT = join(import.meta.dirname, '..');

/** Compares `text` (checkout paths made relative) to test/golden/<name>; with UPDATE_GOLDEN=1 rewrites the file instead. */
export function golden(name: string, text: string): void {
  // Paths inside the repository are written relative to it, so goldens do not depend on where the clone lives.
  text = text.replaceAll(`${ROOT}/`, '');
  const path = join(ROOT, 'test', 'golden', name);
  if (process.env.UPDATE_GOLDEN === '1' || !existsSync(path)) {
    if (!existsSync(path) && process.env.CI)
      throw new Error(`golden file ${name} is missing; run UPDATE_GOLDEN=1 npm test and commit it`);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
    return;
  }
  expect(text, `golden ${name} differs; review and run UPDATE_GOLDEN=1 if intended`).toBe(
    readFileSync(path, 'utf8'),
  );
}

/** Runs `fcnc ARGS…` in-process, capturing stdout, stderr and the exit code. */
export async function runCli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const { main } = await import('../compiler/cli/main.ts');
  let out = '';
  let err = '';
  const code = await main(args, { out: (t) => (out += t), err: (t) => (err += t), color: false });
  return { code, out, err };
}

/** max |a − b| / max |b| — the relative error every GPU-vs-reference comparison uses. */
export function maxRelError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let err = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    err = Math.max(err, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return scale > 0 ? err / scale : err;
}
