// Runs every spec in test/cases/errors/. Each file states the diagnostics it must produce in comments on the
// line the diagnostic points at:   `// error: E_CODE "message substring"`  (or `warning:`; `error@0:` for a
// diagnostic without a location). The run must produce exactly those, no more.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildGraph } from '../../compiler/index.ts';
import { DIAG_CODES, formatDiagnostic } from '../../compiler/diagnostics.ts';
import { ROOT } from '../helpers.ts';

const DIR = join(ROOT, 'test', 'cases', 'errors');
const files = readdirSync(DIR)
  .filter((f) => f.endsWith('.fcn'))
  .sort();

interface Expectation {
  line: number;
  severity: 'error' | 'warning';
  code: string;
  message: string;
}

function expectations(text: string): Expectation[] {
  const out: Expectation[] = [];
  text.split('\n').forEach((lineText, i) => {
    for (const m of lineText.matchAll(/\/\/ (error|warning)(@0)?: (\w+) "((?:[^"\\]|\\.)*)"/g))
      out.push({
        line: m[2] ? 0 : i + 1,
        severity: m[1] as 'error',
        code: m[3]!,
        message: JSON.parse(`"${m[4]}"`) as string,
      });
  });
  return out;
}

describe('error cases', () => {
  it('cover every diagnostic code', () => {
    const used = new Set(
      files.flatMap((f) => expectations(readFileSync(join(DIR, f), 'utf8')).map((e) => e.code)),
    );
    expect([...Object.keys(DIAG_CODES)].filter((c) => !used.has(c))).toEqual([]);
  });

  for (const file of files) {
    it(file, () => {
      const path = join(DIR, file);
      const text = readFileSync(path, 'utf8');
      const options = /\/\/ fcnc-options: (\{.*\})/.exec(text);
      const opts = options ? (JSON.parse(options[1]!) as { height?: number; width?: number }) : {};
      const r = buildGraph(path, { height: opts.height ?? 32, width: opts.width ?? 32 });
      const expected = expectations(text);
      expect(expected.length, 'a case file must state at least one expected diagnostic').toBeGreaterThan(0);
      const remaining = [...r.diagnostics];
      const render = () => r.diagnostics.map((d) => formatDiagnostic(d, r.sources)).join('\n');
      for (const e of expected) {
        const k = remaining.findIndex(
          (d) =>
            d.code === e.code &&
            d.severity === e.severity &&
            (d.span ? d.span.file === path && d.span.line === e.line : e.line === 0) &&
            d.message.includes(e.message),
        );
        expect(
          k,
          `expected ${e.severity} ${e.code} "${e.message}" at line ${e.line}; got:\n${render()}`,
        ).toBeGreaterThanOrEqual(0);
        remaining.splice(k, 1);
      }
      expect(
        remaining.map((d) => formatDiagnostic(d, r.sources)),
        'unexpected diagnostics',
      ).toEqual([]);
      // Every located diagnostic renders with file:line:col, a code frame and a caret.
      for (const d of r.diagnostics.filter((d) => d.span)) {
        const out = formatDiagnostic(d, r.sources);
        expect(out).toMatch(
          new RegExp(
            `^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: (error|warning)\\[${d.code}\\]`,
          ),
        );
        expect(out).toContain('^');
      }
    });
  }
});
