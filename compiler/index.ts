// Public API of the compiler front end: spec file → checked AST → elaborated graph, with every diagnostic.
import { hasErrors, type Diagnostic } from './diagnostics.ts';
import { checkModules } from './frontend/check.ts';
import { loadSpec, readFromDisk, type ReadFile } from './frontend/load.ts';
import type { Module } from './frontend/ast.ts';
import { elaborate, type ElaborateOptions } from './ir/elaborate.ts';
import { verifyGraph } from './ir/verify.ts';
import type { Graph } from './ir/types.ts';

export interface FrontendResult {
  readonly modules: readonly Module[];
  readonly graph?: Graph;
  readonly diagnostics: readonly Diagnostic[];
  readonly sources: ReadonlyMap<string, string>;
}

/** Parses, checks and (unless `checkOnly` or there are errors) elaborates a spec file. */
export function buildGraph(
  entry: string,
  opts: ElaborateOptions & { readFile?: ReadFile; checkOnly?: boolean } = {},
): FrontendResult {
  const loaded = loadSpec(entry, opts.readFile ?? readFromDisk);
  const diagnostics: Diagnostic[] = [...loaded.diagnostics];
  if (hasErrors(diagnostics)) return { modules: loaded.modules, diagnostics, sources: loaded.sources };
  diagnostics.push(...checkModules(loaded.modules));
  if (hasErrors(diagnostics) || opts.checkOnly) {
    // `check` still elaborates with defaults so that shape errors are found, unless static errors exist.
    if (hasErrors(diagnostics)) return { modules: loaded.modules, diagnostics, sources: loaded.sources };
  }
  const { graph, diagnostics: eds } = elaborate(loaded.modules, opts);
  diagnostics.push(...eds);
  if (graph) {
    const problems = verifyGraph(graph);
    if (problems.length > 0) throw new Error(`internal: the elaborated graph fails verification:\n${problems.join('\n')}`);
  }
  return { modules: loaded.modules, graph: hasErrors(diagnostics) ? undefined : graph, diagnostics, sources: loaded.sources };
}
