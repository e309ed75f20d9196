// Diagnostics are data: a stable code, a one-sentence message, a span into a source file, notes pointing at
// related places, and a hint saying what to do. They are collected by every stage and rendered only at the edge
// (the CLI), as `file:line:col: error[E_CODE]: message`, a code frame with a caret, the notes and the hint.

export interface SourceFile {
  /** Path as the user named it (relative paths stay relative, so messages are short and stable). */
  readonly path: string;
  readonly text: string;
}

export interface Span {
  readonly file: string;
  /** 0-based character offsets, end exclusive. */
  readonly start: number;
  readonly end: number;
  /** 1-based line and column of `start`. */
  readonly line: number;
  readonly column: number;
}

export type Severity = 'error' | 'warning';

/** Every diagnostic code the compiler can emit. Tests and users may rely on these names. */
export const DIAG_CODES = {
  E_LEX: 'a character that cannot start any token',
  E_SYNTAX: 'the text does not follow the grammar',
  E_IMPORT: 'an imported file cannot be read or imports itself',
  E_UNDEFINED: 'a name is used but never defined',
  E_DUPLICATE: 'a name is defined twice in one scope',
  E_UNKNOWN_LAYER: 'a call names no builtin layer and no block',
  E_UNKNOWN_PARAM: 'a keyword argument names no parameter of the layer or block',
  E_ARGUMENTS: 'too many, missing or repeated arguments',
  E_TYPE: 'a value has the wrong type',
  E_RANGE: 'a value is outside the range its parameter allows',
  E_SHAPE: 'tensor shapes do not fit together (channels, spatial size, rank)',
  E_RECURSION: 'blocks call each other in a cycle',
  E_STRIDE: 'an input declares an output stride that is not a positive int',
  E_ASSERT: 'an `assert` in a spec failed',
  E_MEMBER: 'a member access on something that has no such member',
  E_NO_MODEL: 'the file defines no model, or not the one asked for',
  E_ANON_PARAMS: 'a layer with parameters is used without a name',
  E_LOSS: 'a loss term is malformed',
  E_NO_OUTPUT: 'a block without an `out`, or a model without an `input`',
  W_UNUSED: 'a value or parameter is defined but never used',
} as const;
export type DiagCode = keyof typeof DIAG_CODES;

export interface Note {
  readonly message: string;
  readonly span?: Span;
}

export interface Diagnostic {
  readonly severity: Severity;
  readonly code: DiagCode;
  readonly message: string;
  readonly span?: Span;
  readonly notes: readonly Note[];
  readonly hint?: string;
}

export function error(
  code: DiagCode,
  message: string,
  span?: Span,
  extra: { notes?: Note[]; hint?: string } = {},
): Diagnostic {
  return { severity: 'error', code, message, span, notes: extra.notes ?? [], hint: extra.hint };
}

export function warning(
  code: DiagCode,
  message: string,
  span?: Span,
  extra: { notes?: Note[]; hint?: string } = {},
): Diagnostic {
  return { severity: 'warning', code, message, span, notes: extra.notes ?? [], hint: extra.hint };
}

/** Thrown inside a stage to abandon the current construct; the stage catches it and records the diagnostic. */
export class CompileError extends Error {
  constructor(readonly diagnostic: Diagnostic) {
    super(diagnostic.message);
  }
}

export const hasErrors = (ds: readonly Diagnostic[]): boolean => ds.some((d) => d.severity === 'error');

/** Line starts of a text, for offset → line/column. */
export function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
  return starts;
}

export function spanAt(file: SourceFile, start: number, end: number, starts = lineStarts(file.text)): Span {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= start) lo = mid;
    else hi = mid - 1;
  }
  return { file: file.path, start, end: Math.max(end, start), line: lo + 1, column: start - starts[lo]! + 1 };
}

export const formatLocation = (s: Span): string => `${s.file}:${s.line}:${s.column}`;

/** Renders one diagnostic with a code frame. `sources` maps file path → text (files not found render without a frame). */
export function formatDiagnostic(
  d: Diagnostic,
  sources: ReadonlyMap<string, string>,
  opts: { color?: boolean } = {},
): string {
  const c = opts.color ? ANSI : PLAIN;
  const sev = d.severity === 'error' ? c.red('error') : c.yellow('warning');
  const where = d.span ? `${c.bold(formatLocation(d.span))}: ` : '';
  const lines = [`${where}${sev}[${d.code}]: ${c.bold(d.message)}`];
  if (d.span) lines.push(...codeFrame(d.span, sources.get(d.span.file), c));
  for (const n of d.notes) {
    lines.push(`  ${c.cyan('note')}: ${n.span ? `${formatLocation(n.span)}: ` : ''}${n.message}`);
    if (n.span) lines.push(...codeFrame(n.span, sources.get(n.span.file), c).map((l) => '  ' + l));
  }
  if (d.hint) lines.push(`  ${c.green('hint')}: ${d.hint}`);
  return lines.join('\n');
}

function codeFrame(span: Span, text: string | undefined, c: Paint): string[] {
  if (text === undefined) return [];
  const starts = lineStarts(text);
  const lineIdx = span.line - 1;
  if (lineIdx >= starts.length) return [];
  const lineText = text
    .slice(starts[lineIdx], lineIdx + 1 < starts.length ? starts[lineIdx + 1]! - 1 : text.length)
    .replace(/\r$/, '');
  const gutter = String(span.line);
  const pad = ' '.repeat(gutter.length);
  const lineEnd = starts[lineIdx]! + lineText.length;
  const width = Math.max(1, Math.min(span.end, lineEnd) - span.start);
  const caretCol = span.column - 1;
  // Tabs are kept in the underline so the caret stays under the right character.
  const lead = lineText.slice(0, caretCol).replace(/[^\t]/g, ' ');
  return [` ${pad} |`, ` ${gutter} | ${lineText}`, ` ${pad} | ${lead}${c.red('^'.repeat(width))}`];
}

interface Paint {
  red(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
  green(s: string): string;
  bold(s: string): string;
}
const PLAIN: Paint = { red: (s) => s, yellow: (s) => s, cyan: (s) => s, green: (s) => s, bold: (s) => s };
const ANSI: Paint = {
  red: (s) => `\x1b[31m${s}\x1b[0m`,
  yellow: (s) => `\x1b[33m${s}\x1b[0m`,
  cyan: (s) => `\x1b[36m${s}\x1b[0m`,
  green: (s) => `\x1b[32m${s}\x1b[0m`,
  bold: (s) => `\x1b[1m${s}\x1b[0m`,
};

/** Levenshtein-based suggestion for "did you mean …" hints. */
export function closest(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(name, c);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(name.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}
