// The state of one elaboration, shared by expressions, calls and statements: the graph being built, the
// diagnostics, and what the final Graph records besides its nodes (named values, block-instance groups, inputs,
// outputs, losses, settings). Also the frames (one per block instance being run) and the helpers that make
// located diagnostics.
import { CompileError, error, type Diagnostic, type Note, type Span } from '../diagnostics.ts';
import type * as A from '../frontend/ast.ts';
import type { TensorArg } from '../ops/op.ts';
import { GraphBuilder } from '../ir/builder.ts';
import { shapeToString, type LossTerm, type Node, type Param, type Shape } from '../ir/types.ts';
import type { Plain, Value } from './values.ts';

export interface ElaborateOptions {
  /** Name of the model to build; default: the only model of the entry file. */
  readonly model?: string;
  readonly batch?: number;
  readonly height?: number;
  readonly width?: number;
  /** Overrides of model parameters (`classes`), already parsed from the command line. */
  readonly settings?: Readonly<Record<string, Plain>>;
}

export const DEFAULT_SIZE = 512;

/** Blocks nest at most this deep (a guard; recursion itself is rejected by the static checks). */
export const MAX_DEPTH = 64;

/** One block instance (or the model) being run. */
export interface Frame {
  readonly decl: A.Decl;
  /** Instance path prefix, '' at model level, else 'pretrained.layer1.0.'. */
  readonly prefix: string;
  readonly env: Map<string, Value | 'poison'>;
  readonly outs: Map<string, Value>;
  readonly depth: number;
}

/** Abandons the current statement without a new diagnostic (an earlier one explains it). */
export class Poisoned extends Error {}

export class Context {
  readonly ds: Diagnostic[] = [];
  /** Model parameters and size variables as elaborated; the same object becomes Graph.settings. */
  readonly settings: Record<string, Plain> = {};
  readonly builder: GraphBuilder;
  readonly names: { name: string; node: number }[] = [];
  readonly groups: { name: string; members: string[] }[] = [];
  readonly inputs: { name: string; node: number; stride: number }[] = [];
  readonly outputs: { name: string; node: number }[] = [];
  readonly losses: LossTerm[] = [];
  readonly batch: number;

  constructor(
    /** Every block and model of the loaded modules by name (the first definition wins). */
    readonly decls: ReadonlyMap<string, A.Decl>,
    readonly opts: ElaborateOptions,
    model: string,
    file: string,
  ) {
    this.builder = new GraphBuilder({ model, file, settings: this.settings });
    this.batch = opts.batch ?? 1;
  }

  get nodes(): readonly Node[] {
    return this.builder.nodes;
  }

  /** Records the diagnostic of a failed statement; a poisoned one was explained earlier. */
  record(e: unknown): void {
    if (e instanceof CompileError) this.ds.push(e.diagnostic);
    else if (!(e instanceof Poisoned)) throw e;
  }

  /** Binds a name in a frame; a tensor becomes a named value of the graph (`pretrained.layer1`). */
  bind(f: Frame, name: string, v: Value): void {
    f.env.set(name, v);
    if (v.t === 'tensor') this.names.push({ name: f.prefix + name, node: v.node });
  }

  /** Adds a state-dict entry; a name made twice is an error at the second layer. */
  addParam(
    name: string,
    p: { role: string; shape: Shape; dtype?: 'f32' | 'i64'; init: Param['init']; trainable?: boolean },
    span: Span,
    used: boolean,
  ): number {
    const prev = this.builder.entryIndex(name);
    if (prev !== undefined)
      throw fail('E_DUPLICATE', `parameter '${name}' is created twice`, span, {
        notes: [{ message: 'first created here', span: this.builder.params[prev]!.span }],
        hint: 'two layers got the same instance name',
      });
    return this.builder.entry({
      name,
      shape: p.shape,
      dtype: p.dtype ?? 'f32',
      init: p.init,
      trainable: p.trainable ?? true,
      role: p.role,
      used,
      span,
    });
  }

  /** "'x' has shape [...], made here" for each tensor, so a shape error shows where its inputs came from. */
  originNotes(ts: readonly TensorArg[]): Note[] {
    return ts.map((t) => {
      const n = this.nodes[t.node]!;
      return { message: `'${n.name}' has shape ${shapeToString(n.shape)}, made here`, span: n.span };
    });
  }
}

export function fail(
  code: Parameters<typeof error>[0],
  message: string,
  span: Span | undefined,
  extra: { notes?: Note[]; hint?: string } = {},
): CompileError {
  return new CompileError(error(code, message, span, extra));
}

/** "in block 'x' called from here" notes, so an error inside a library block says how it was reached. */
export function callNotes(f: Frame): Note[] {
  return f.depth > 0 ? [{ message: `inside '${f.decl.name}', instance '${f.prefix.slice(0, -1)}'` }] : [];
}

/** The path of a call with no instance name (`relu(conv(...))`'s inner call): never a state-dict key. */
export function anonPath(f: Frame, what: string): string {
  return `${f.prefix}<${what}>`;
}
