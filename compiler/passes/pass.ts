// What a pass is: a pure function Graph → Graph with a name, a one-line description, and an account of what it
// changed ("53 batchnorms folded into convs"). The pipeline (compiler/pipeline.ts) lists the passes of each mode.
import type { DeviceLimits } from '../codegen/limits.ts';
import type { Graph } from '../ir/types.ts';

export interface PassContext {
  /** The device the program is compiled for: passes keep kernels within its binding limits. */
  readonly limits: DeviceLimits;
}

export interface PassResult {
  readonly graph: Graph;
  /** What changed, one short phrase each ("12 dropouts removed"); empty when nothing did. */
  readonly changes: readonly string[];
}

export interface Pass {
  readonly name: string;
  readonly doc: string;
  run(g: Graph, ctx: PassContext): PassResult;
}

export function definePass(p: Pass): Pass {
  return p;
}

/**
 * Nodes whose values must be materialised as they are: graph outputs, the values losses read, and in training
 * graphs the loss terms, the gradients and the new values of the state a step updates.
 */
export function keptNodes(g: Graph): Set<number> {
  return new Set([
    ...g.outputs.map((o) => o.node),
    ...g.losses.map((l) => l.node),
    ...(g.objective ?? []).map((o) => o.node),
    ...(g.gradients ?? []).map((x) => x.node),
    ...(g.updates ?? []).map((x) => x.node),
  ]);
}

/** "1 batchnorm" / "3 batchnorms". */
export const count = (n: number, what: string, plural = `${what}s`): string =>
  `${n} ${n === 1 ? what : plural}`;
