// Property test: random mutations of the real specs never make the front end throw anything but located
// diagnostics. Each run mutates one spec or library file (the others stay intact, read from disk) and builds
// the variant; any exception other than a Diagnostic is a bug, and every error diagnostic must point into a
// file with a valid line:column (or, for whole-file problems, carry a hint instead).
import { readFileSync, readdirSync } from 'node:fs';
import { join, normalize } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildGraph } from '../../compiler/index.ts';
import { lineStarts } from '../../compiler/diagnostics.ts';
import { ROOT } from '../helpers.ts';

const SPECS = join(ROOT, 'specs');
const variants = readdirSync(SPECS)
  .filter((f) => f.endsWith('.fcn'))
  .map((f) => join(SPECS, f));
const libs = readdirSync(join(SPECS, 'lib')).map((f) => join(SPECS, 'lib', f));
const texts = new Map([...variants, ...libs].map((p) => [normalize(p), readFileSync(p, 'utf8')]));

const TOKENS = [
  '(',
  ')',
  '[',
  ']',
  '{',
  '}',
  ',',
  '=',
  ':',
  '.',
  '*',
  '/',
  '-',
  '+',
  '0',
  '7',
  '-1',
  '2.5',
  '"x"',
  'x',
  'if',
  'else',
  'then',
  'out',
  'input',
  'seq',
  'block',
  'model',
  'loss',
  'unused',
  'assert',
  'conv',
  'relu',
  'tensor',
  'int',
  'true',
  '`q`',
  '\n',
  '$',
  '//',
  'import',
];

type Mutation = {
  kind: 'delete' | 'insert' | 'replace' | 'duplicate' | 'swapnum';
  at: number;
  len: number;
  token: number;
};
const mutation = fc.record({
  kind: fc.constantFrom('delete', 'insert', 'replace', 'duplicate', 'swapnum'),
  at: fc.nat(),
  len: fc.integer({ min: 1, max: 40 }),
  token: fc.nat(TOKENS.length - 1),
}) as fc.Arbitrary<Mutation>;

function mutate(text: string, m: Mutation): string {
  const at = m.at % (text.length + 1);
  switch (m.kind) {
    case 'delete':
      return text.slice(0, at) + text.slice(at + m.len);
    case 'insert':
      return text.slice(0, at) + ' ' + TOKENS[m.token] + ' ' + text.slice(at);
    case 'replace':
      return text.slice(0, at) + TOKENS[m.token] + text.slice(at + m.len);
    case 'duplicate': {
      const lines = text.split('\n');
      const i = at % lines.length;
      lines.splice(i, 0, lines[i]!);
      return lines.join('\n');
    }
    case 'swapnum': {
      // Replace the n-th number with another value: exercises ranges, types and shapes deep in elaboration.
      let n = 0;
      const target = m.len % 12;
      const values = ['0', '-3', '1', '3', '64', '100000', '1.5', '7'];
      return text.replace(/\b\d+(\.\d+)?\b/g, (s) => (n++ === target ? values[m.token % values.length]! : s));
    }
  }
}

function checkRun(file: string, mutated: { path: string; text: string }[]): void {
  const overlay = new Map(mutated.map((m) => [normalize(m.path), m.text]));
  const readFile = (p: string) => {
    const k = normalize(p);
    const t = overlay.get(k) ?? texts.get(k);
    if (t === undefined) throw Object.assign(new Error(`no such file ${p}`), { code: 'ENOENT' });
    return t;
  };
  const r = buildGraph(file, { readFile, height: 64, width: 64 });
  for (const d of r.diagnostics) {
    expect(d.message.length).toBeGreaterThan(0);
    if (d.span) {
      const text = readFile(d.span.file);
      const starts = lineStarts(text);
      expect(d.span.line).toBeGreaterThanOrEqual(1);
      expect(d.span.line).toBeLessThanOrEqual(starts.length);
      expect(d.span.column).toBeGreaterThanOrEqual(1);
      expect(d.span.start).toBeLessThanOrEqual(text.length);
      expect(starts[d.span.line - 1]! + d.span.column - 1).toBe(d.span.start);
    } else {
      expect(
        ['E_NO_MODEL', 'E_IMPORT', 'E_UNKNOWN_PARAM', 'E_NO_OUTPUT'],
        `${d.code} without a location: ${d.message}`,
      ).toContain(d.code);
    }
  }
  if (r.graph === undefined) expect(r.diagnostics.some((d) => d.severity === 'error')).toBe(true);
}

const RUNS = Number(process.env.FUZZ_RUNS ?? 2000);

describe('front end under random mutation', () => {
  it(`never throws on ${RUNS} mutated variant files`, () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...variants),
        fc.array(mutation, { minLength: 1, maxLength: 3 }),
        (file, ms) => {
          const text = ms.reduce(mutate, texts.get(normalize(file))!);
          checkRun(file, [{ path: file, text }]);
        },
      ),
      { numRuns: RUNS, seed: 42 },
    );
  });
  it(`never throws on ${RUNS} mutated library files`, () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...libs),
        fc.constantFrom(...variants),
        fc.array(mutation, { minLength: 1, maxLength: 3 }),
        (lib, file, ms) => {
          const text = ms.reduce(mutate, texts.get(normalize(lib))!);
          checkRun(file, [{ path: lib, text }]);
        },
      ),
      { numRuns: RUNS, seed: 7 },
    );
  });
});
