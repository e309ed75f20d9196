// Public API of the compiler front end: spec file → checked AST → elaborated graph, with every diagnostic.
import { hasErrors, type Diagnostic } from './diagnostics.ts';
import { checkModules } from './frontend/check.ts';
import { loadSpec, readFromDisk, type ReadFile } from './frontend/load.ts';
import type { Module } from './frontend/ast.ts';
import { elaborate, type ElaborateOptions } from './elaborate/index.ts';
import { verifyGraph } from './ir/verify.ts';
import type { Graph } from './ir/types.ts';
import { printGraph } from './ir/print.ts';

/** DEBUG=1 prints stage timings on stderr; DEBUG=2 also the elaborated IR. */
export const debugLevel = (): number => Number(process.env.DEBUG) || 0;
export function debugStage(level: number, stage: string, since: number): void {
  if (debugLevel() >= level)
    process.stderr.write(`[fcnc] ${stage}: ${(performance.now() - since).toFixed(1)} ms\n`);
}

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
  const t0 = performance.now();
  const loaded = loadSpec(entry, opts.readFile ?? readFromDisk);
  debugStage(1, 'load + parse', t0);
  const diagnostics: Diagnostic[] = [...loaded.diagnostics];
  if (hasErrors(diagnostics)) return { modules: loaded.modules, diagnostics, sources: loaded.sources };
  const t1 = performance.now();
  diagnostics.push(...checkModules(loaded.modules));
  debugStage(1, 'check', t1);
  if (hasErrors(diagnostics) || opts.checkOnly) {
    // `check` still elaborates with defaults so that shape errors are found, unless static errors exist.
    if (hasErrors(diagnostics)) return { modules: loaded.modules, diagnostics, sources: loaded.sources };
  }
  const t2 = performance.now();
  const { graph, diagnostics: eds } = elaborate(loaded.modules, opts);
  diagnostics.push(...eds);
  debugStage(1, `elaborate (${graph?.nodes.length ?? 0} ops)`, t2);
  if (graph && debugLevel() >= 2) process.stderr.write(printGraph(graph));
  if (graph) {
    const problems = verifyGraph(graph);
    if (problems.length > 0)
      throw new Error(`internal: the elaborated graph fails verification:\n${problems.join('\n')}`);
  }
  return {
    modules: loaded.modules,
    graph: hasErrors(diagnostics) ? undefined : graph,
    diagnostics,
    sources: loaded.sources,
  };
}
