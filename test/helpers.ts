// Shared test helpers: golden files behind one update switch (UPDATE_GOLDEN=1), paths.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { expect } from 'vitest';

export const ROOT = join(import.meta.dirname, '..');

/** Compares `text` to test/golden/<name>; with UPDATE_GOLDEN=1 rewrites the file instead. */
export function golden(name: string, text: string): void {
  const path = join(ROOT, 'test', 'golden', name);
  if (process.env.UPDATE_GOLDEN === '1' || !existsSync(path)) {
    if (!existsSync(path) && process.env.CI) throw new Error(`golden file ${name} is missing; run UPDATE_GOLDEN=1 npm test and commit it`);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
    return;
  }
  expect(text, `golden ${name} differs; review and run UPDATE_GOLDEN=1 if intended`).toBe(readFileSync(path, 'utf8'));
}
