// Reads a spec file and, transitively, the files it imports; lexes, parses and converts each to an AST.
// Import paths are relative to the importing file. Every lexical and syntax error of every file is reported.
import { readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { EOF } from 'chevrotain';
import { error, spanAt, lineStarts, type Diagnostic, type SourceFile, type Span } from '../diagnostics.ts';
import { parseText } from './parser.ts';
import { toAst } from './to_ast.ts';
import type { Module } from './ast.ts';

export type ReadFile = (path: string) => string;

export interface Loaded {
  /** Entry module first, then imports in the order first seen. */
  readonly modules: readonly Module[];
  /** File path → text, for rendering code frames. */
  readonly sources: ReadonlyMap<string, string>;
  readonly diagnostics: readonly Diagnostic[];
}

export const readFromDisk: ReadFile = (p) => readFileSync(p, 'utf8');

/** Parses one source text. Syntax errors stop before the AST is built (a recovered CST is not trustworthy). */
export function parseSource(file: SourceFile): { module?: Module; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  const starts = lineStarts(file.text);
  const { cst, lexErrors, parseErrors } = parseText(file.text);
  for (const e of lexErrors) {
    const ch = file.text.slice(e.offset, e.offset + e.length);
    diagnostics.push(
      error(
        'E_LEX',
        `unexpected character ${JSON.stringify(ch)}`,
        spanAt(file, e.offset, e.offset + Math.max(1, e.length), starts),
        {
          hint: 'names are letters, digits and _; comments start with //',
        },
      ),
    );
  }
  for (const e of parseErrors) {
    let span: Span;
    const prev = (e as { previousToken?: { endOffset?: number; endLine?: number } }).previousToken;
    const prevEnd =
      prev?.endOffset !== undefined && !Number.isNaN(prev.endOffset) ? prev.endOffset + 1 : undefined;
    if (e.token.tokenType === EOF || Number.isNaN(e.token.startOffset)) {
      const at = prevEnd ?? file.text.length;
      span = spanAt(file, at, at, starts);
    } else if (
      e.name === 'MismatchedTokenException' &&
      prevEnd !== undefined &&
      prev?.endLine !== undefined &&
      e.token.startLine! > prev.endLine
    ) {
      // A token missing at the end of a line is reported right after the last token before it, not on the next line.
      span = spanAt(file, prevEnd, prevEnd, starts);
    } else {
      span = spanAt(file, e.token.startOffset, e.token.endOffset! + 1, starts);
    }
    const hint = syntaxHint(e.message);
    diagnostics.push(error('E_SYNTAX', e.message, span, { hint }));
  }
  if (diagnostics.length > 0) return { diagnostics };
  const module = toAst(cst, file, diagnostics);
  return { module: diagnostics.length > 0 ? undefined : module, diagnostics };
}

function syntaxHint(message: string): string | undefined {
  if (message.includes("expected ')'"))
    return 'check that every ( has a matching ) and that arguments are separated by commas';
  if (message.includes("expected ']'"))
    return 'check that every [ has a matching ] and that items are separated by commas';
  if (message.includes("expected '}'")) return 'check that every { has a matching }';
  if (message.includes("expected '='")) return 'a statement binds a name: `name = expression`';
  return undefined;
}

export function loadSpec(entry: string, readFile: ReadFile = readFromDisk): Loaded {
  const modules: Module[] = [];
  const sources = new Map<string, string>();
  const diagnostics: Diagnostic[] = [];
  const seen = new Set<string>();

  const visit = (path: string, from?: Span): void => {
    const key = normalize(path);
    if (seen.has(key)) return;
    seen.add(key);
    let text: string;
    try {
      text = readFile(path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const reason =
        code === 'ENOENT'
          ? 'no such file'
          : code === 'EISDIR'
            ? 'it is a folder, not a .fcn file'
            : (e as Error).message;
      diagnostics.push(
        error('E_IMPORT', `cannot read '${path}': ${reason}`, from, {
          hint: from
            ? 'import paths are relative to the file that imports them'
            : 'check the path of the spec file',
        }),
      );
      return;
    }
    sources.set(path, text);
    const { module, diagnostics: ds } = parseSource({ path, text });
    diagnostics.push(...ds);
    if (!module) return;
    modules.push(module);
    for (const imp of module.imports) visit(normalize(join(dirname(path), imp.path)), imp.span);
  };
  visit(entry);
  return { modules, sources, diagnostics };
}
