// How a kernel reads its inputs and stores its output, when they are not plain dense buffers of their own:
//  - views: a tensor [N, C, …] that lives in channels [C0, C0 + C) of a larger [N, CT, …] tensor (what concat
//    elimination makes: producers write their channel slice of the concatenated buffer, readers read it there).
//    Dense element i (row-major in the tensor's own shape) is stored at i + ⌊i / (C·INNER)⌋·(CT − C)·INNER + C0·INNER;
//  - a fused epilogue: pointwise ops applied to every output element before it is stored (bias, a residual add,
//    relu, sigmoid, a per-channel affine or factor), each operand read at the element's index, channel, (sample,
//    channel) or row.
// Every emitter reads through `at`/`plane` and stores through `store`, so any op can be the anchor of a fused kernel
// and any value can live in a concat. With neither views nor an epilogue the generated code is what a plain
// kernel would be: `y[i] = v`.
import type { ElementIndex, Epilogue, EpilogueOperand, Indexing, KernelCtx, View } from '../../ops/op.ts';
import { numel, type Shape } from '../../ir/types.ts';
import { u, type Buf } from './common.ts';

type Elem = 'f32' | 'vec4f';

/** Elements per step of each broadcast index, for an output of shape `out`. */
function strides(out: Shape): { inner1: number; channels: number; inner0: number } {
  // A 1-D result [C] (a per-channel vector) is its own channel axis.
  if (out.length === 1) return { inner1: 1, channels: out[0]!, inner0: 1 };
  return { inner1: numel(out.slice(2)), channels: out[1] ?? 1, inner0: numel(out.slice(1)) };
}

/** How an operand of shape `s` broadcasts to an output `out`, from the shapes alone. */
export function defaultIndexing(s: Shape, out: Shape): Indexing {
  if (s.length === out.length && s.every((d, k) => d === out[k])) return 'same';
  if (out.length >= 2 && s.length === 1 && s[0] === out[1]) return 'channel';
  if (out.length === 1 && s.length === 1 && s[0] === out[0]) return 'same';
  const factor = s.length === 2 || (s.length === 4 && s[2] === 1 && s[3] === 1);
  if (out.length >= 2 && factor && s[0] === out[0] && s[1] === out[1]) return 'sample_channel';
  throw new Error(`internal: an operand [${s.join(', ')}] does not broadcast to [${out.join(', ')}]`);
}

/** Whether an operand indexed this way can be read (or a tensor stored) as vec4 along the flat output index. */
export function vecFriendly(index: Indexing, out: Shape, view?: View): boolean {
  const { inner1, inner0 } = strides(out);
  if (numel(out) % 4 !== 0) return false;
  switch (index) {
    case 'same':
      return !view || inner1 % 4 === 0;
    case 'channel':
    case 'sample_channel':
      return inner1 % 4 === 0;
    case 'row':
      return inner0 % 4 === 0;
    case 'whole':
      return true;
  }
}

/** A WGSL function mapping dense index i of a tensor `shape` (in units of `elem`) to its storage index in `view`. */
function viewFn(fn: string, shape: Shape, view: View, elem: Elem): string {
  const q = elem === 'vec4f' ? 4 : 1;
  const c = shape[1]!;
  const inner = numel(shape.slice(2)) / q;
  if (!Number.isInteger(inner)) throw new Error('internal: a vec4 view needs an inner size divisible by 4');
  const off = view.offset * inner;
  const gap = (view.channels - c) * inner;
  const expr =
    shape[0] === 1 || gap === 0 ? `i + ${u(off)}` : `i + (i / ${u(c * inner)}) * ${u(gap)} + ${u(off)}`;
  return `// [${shape.join(', ')}] stored at channels ${view.offset}..${view.offset + c} of ${view.channels}\nfn ${fn}(i: u32) -> u32 { return ${expr}; }`;
}

/** An operand as the chain code sees it: its binding name and how to index it. */
export interface Bound {
  readonly name: string;
  readonly shape: Shape;
  readonly index: Indexing;
  readonly view?: View;
  /** Element type of its array (vec4f only for 'same' operands of a vec4 chain). */
  readonly elem: Elem;
}

export interface ChainStep {
  readonly comment: string;
  /** Each argument: the running value ('v') or an operand index. */
  readonly args: readonly ('v' | number)[];
  readonly expr: (args: readonly string[], elem: Elem, ix: ElementIndex) => string;
  readonly usesIndex?: boolean;
}

/**
 * Code computing a chain of pointwise steps at output element `i` (f32) or vec4 `i` (vec4f): loads of the operands
 * it needs, then `v = …` per step. The first step may have no 'v' argument (the generic pointwise kernel).
 */
export function chainCode(
  steps: readonly ChainStep[],
  ops: readonly Bound[],
  out: Shape,
  elem: Elem,
  indent: string,
  viewFnOf: (k: number) => string,
): string {
  const { inner1, channels, inner0 } = strides(out);
  const q = elem === 'vec4f' ? 4 : 1;
  const used = new Set(steps.flatMap((s) => s.args.filter((a): a is number => a !== 'v')));
  const kinds = new Set([...used].map((k) => ops[k]!.index));
  const L: string[] = [];
  const flat = q === 4 ? 'i * 4u' : 'i';
  if (kinds.has('channel')) L.push(`let ch = (${flat} / ${u(inner1)}) % ${u(channels)}; // channel`);
  if (kinds.has('sample_channel')) L.push(`let nc = ${flat} / ${u(inner1)}; // sample · C + channel`);
  if (kinds.has('row')) L.push(`let row = ${flat} / ${u(inner0)};`);
  const ix: ElementIndex = {
    flat: q === 4 ? 'ix_flat' : 'i',
    sampleChannel: 'ix_nc',
  };
  if (steps.some((s) => s.usesIndex)) {
    if (q === 4) L.push('let ix_flat = vec4u(i * 4u) + vec4u(0u, 1u, 2u, 3u); // the four elements');
    L.push(`let ix_nc = ${flat} / ${u(inner1)}; // sample · C + channel`);
  }
  const load = (k: number): string => {
    const o = ops[k]!;
    const at = o.view ? `${viewFnOf(k)}(i)` : 'i';
    const idx = { same: at, channel: 'ch', sample_channel: 'nc', row: 'row', whole: '' }[o.index];
    const v = `${o.name}[${idx}]`;
    return elem === 'vec4f' && o.elem === 'f32' ? `vec4f(${v})` : v;
  };
  for (const k of [...used].sort((a, b) => a - b))
    if (ops[k]!.index !== 'whole') L.push(`let a${k} = ${load(k)};`);
  steps.forEach((s, j) => {
    const args = s.args.map((a) => (a === 'v' ? 'v' : ops[a]!.index === 'whole' ? ops[a]!.name : `a${a}`));
    const rhs = s.expr(args, elem, ix);
    L.push(
      j === 0 && !s.args.includes('v') ? `var v = ${rhs}; // ${s.comment}` : `v = ${rhs}; // ${s.comment}`,
    );
  });
  return L.map((l) => indent + l).join('\n');
}

/**
 * The reading and storing side of one kernel: input views, the output view and the fused epilogue. Emitters
 * declare their own inputs, then `outBufs()` (epilogue operands and the output), index inputs with `at` or
 * `plane`, store with `store`/`store4`, and add `helpers()` to the module.
 */
export class KernelIo {
  private readonly fns: string[] = [];
  private vecStore = false;
  private readonly epi: Epilogue;

  constructor(
    private readonly ctx: KernelCtx,
    /** The output array's name in WGSL. */
    readonly out = 'y',
  ) {
    this.epi = ctx.epilogue ?? { operands: [], steps: [] };
    for (const o of this.epi.operands)
      if (o.view && o.index !== 'same') throw new Error('internal: a broadcast epilogue operand in a view');
  }

  view(k: number): View | undefined {
    return this.ctx.views?.inputs?.[k];
  }

  /** Storage index of dense element `i` of input k (in units of `elem`). */
  at(k: number, i: string, elem: Elem = 'f32'): string {
    return this.view(k) ? `${this.atFn(k, elem)}(${i})` : i;
  }

  /** The name of input k's view function (made on first use); input k must have a view. */
  atFn(k: number, elem: Elem = 'f32'): string {
    const v = this.view(k);
    if (!v) throw new Error(`internal: input ${k} has no view`);
    const fn = `at_in${k}${elem === 'vec4f' ? '_4' : ''}`;
    if (!this.fns.some((f) => f.includes(`fn ${fn}(`)))
      this.fns.push(viewFn(fn, this.ctx.inputs[k]!, v, elem));
    return fn;
  }

  /**
   * Index of plane (n, c) of input k — a [N, C, …] tensor — counted in planes of its storage: multiply by the
   * plane size to get the first element. A view shifts it to the slice's channels.
   */
  plane(k: number, n: string, c: string): string {
    const v = this.view(k);
    const C = this.ctx.inputs[k]![1]!;
    if (!v) return `(${n}) * ${u(C)} + ${c}`;
    return `(${n}) * ${u(v.channels)} + ${u(v.offset)} + ${c}`;
  }

  /**
   * Whether input k's view (if any) allows vec4 reads: its per-channel size is a multiple of 4. (The caller
   * still checks that its own vec4 reads are aligned in the dense tensor.)
   */
  inVecOk(k: number): boolean {
    return !this.view(k) || numel(this.ctx.inputs[k]!.slice(2)) % 4 === 0;
  }

  /** Whether the output (with its view and epilogue operands) can be stored as vec4 along the flat index. */
  get outVecOk(): boolean {
    const out = this.ctx.out;
    const indexed = this.epi.steps.some((s) => s.usesIndex);
    return (
      vecFriendly('same', out, this.ctx.views?.output) &&
      this.epi.operands.every((o) => vecFriendly(o.index, out, o.view)) &&
      (!indexed || vecFriendly('channel', out))
    );
  }

  /** The epilogue operands (slots epi0…) and the output, to append to the kernel's own bindings. */
  outBufs(vec = false): Buf[] {
    this.vecStore = vec;
    if (vec && !this.outVecOk) throw new Error('internal: a vec4 store where the output cannot take one');
    return [
      ...this.epi.operands.map((o, k): Buf => ({
        slot: `epi${k}`,
        name: `ep${k}`,
        elem: vec && o.index === 'same' ? 'vec4f' : 'f32',
      })),
      { slot: 'output', name: this.out, elem: vec ? 'vec4f' : 'f32', write: true },
    ];
  }

  /** A statement storing the f32 value `v` at dense output index `i`, through the epilogue and the output view. */
  store(i: string, v: string): string {
    return `store_${this.out}(${i}, ${v});`;
  }

  /** The vec4 form of `store`: vec4 index `i4` (requires outBufs(true)). */
  store4(i4: string, v: string): string {
    return `store_${this.out}(${i4}, ${v});`;
  }

  /** Helper functions for the module: view index maps and the store function. */
  helpers(): string {
    const elem: Elem = this.vecStore ? 'vec4f' : 'f32';
    const out = this.ctx.out;
    const bound: Bound[] = this.epi.operands.map((o: EpilogueOperand, k) => ({
      name: `ep${k}`,
      shape: o.shape,
      index: o.index,
      ...(o.view ? { view: o.view } : {}),
      elem: this.vecStore && o.index === 'same' ? 'vec4f' : 'f32',
    }));
    const fns = [...this.fns];
    bound.forEach((b, k) => {
      if (b.view) fns.push(viewFn(`at_ep${k}`, b.shape, b.view, b.elem));
    });
    const outView = this.ctx.views?.output;
    if (outView) fns.push(viewFn(`at_${this.out}`, out, outView, elem));
    const steps: ChainStep[] = this.epi.steps.map((s) => ({
      comment: s.op,
      args: s.args,
      expr: (args, e, ix) => s.wgsl(args, e, ix),
      ...(s.usesIndex ? { usesIndex: true } : {}),
    }));
    for (const h of new Set(this.epi.steps.flatMap((s) => (s.helpers ? [s.helpers.trim()] : []))))
      if (!fns.includes(h)) fns.push(h);
    const body = [
      '  var v = v0;',
      ...(steps.length ? [chainCode(steps, bound, out, elem, '  ', (k) => `at_ep${k}`)] : []),
      `  ${this.out}[${outView ? `at_${this.out}(i)` : 'i'}] = v;`,
    ].join('\n');
    const what = steps.length
      ? `applies the fused epilogue (${steps.map((s) => s.comment).join(' → ')}) and stores`
      : 'stores';
    fns.push(
      `// Element i of the result (dense index${elem === 'vec4f' ? ', in vec4s' : ''}): ${what}${outView ? ' into its slice' : ''}.\nfn store_${this.out}(i: u32, v0: ${elem}) {\n${body}\n}`,
    );
    return fns.join('\n\n');
  }
}
