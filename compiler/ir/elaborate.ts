// Elaboration: runs a checked model with concrete parameter values and input size, and builds the typed op
// graph. Blocks are expanded inline; every binding becomes an instance name (`pretrained.layer1.0.conv1`), so
// parameters get the official state-dict keys. Shapes are inferred as each node is built; a shape rule that
// fails becomes a diagnostic at the call, with notes pointing at where each input tensor was made.
import { CompileError, closest, error, type Diagnostic, type Note, type Span } from '../diagnostics.ts';
import type * as A from '../frontend/ast.ts';
import { typeToString } from '../frontend/ast.ts';
import { getOp, LAYERS } from '../ops/index.ts';
import { ShapeError, type ArgValue, type LayerDef, type LayerParam, type TensorArg } from '../ops/op.ts';
import { shapeToString, type Attrs, type Graph, type LossTerm, type Param, type Shape } from './types.ts';
import { GraphBuilder } from './builder.ts';

export interface ElaborateOptions {
  /** Name of the model to build; default: the only model of the entry file. */
  readonly model?: string;
  readonly batch?: number;
  readonly height?: number;
  readonly width?: number;
  /** Overrides of model parameters (`classes`), already parsed from the command line. */
  readonly settings?: Readonly<Record<string, number | boolean | string | readonly number[]>>;
}

export const DEFAULT_SIZE = 512;

type Value =
  | { readonly t: 'int'; readonly v: number }
  | { readonly t: 'float'; readonly v: number }
  | { readonly t: 'bool'; readonly v: boolean }
  | { readonly t: 'string'; readonly v: string }
  | { readonly t: 'list'; readonly items: readonly Value[] }
  | { readonly t: 'tensor'; readonly node: number; readonly shape: Shape }
  | {
      readonly t: 'instance';
      readonly block: string;
      readonly outs: ReadonlyMap<string, Value>;
      readonly span: Span;
    };

/** Abandons the current statement without a new diagnostic (an earlier one explains it). */
class Poisoned extends Error {}

interface Frame {
  readonly decl: A.Decl;
  /** Instance path prefix, '' at model level, else 'pretrained.layer1.0.'. */
  readonly prefix: string;
  readonly env: Map<string, Value | 'poison'>;
  readonly outs: Map<string, Value>;
  readonly depth: number;
}

const MAX_DEPTH = 64;

export function elaborate(
  modules: readonly A.Module[],
  opts: ElaborateOptions = {},
): { graph?: Graph; diagnostics: Diagnostic[] } {
  const ds: Diagnostic[] = [];
  const decls = new Map<string, A.Decl>();
  for (const m of modules) for (const d of m.decls) if (!decls.has(d.name)) decls.set(d.name, d);

  const entry = modules[0];
  const models = entry ? entry.decls.filter((d) => d.kind === 'model') : [];
  let model: A.Decl | undefined;
  if (opts.model) {
    model = decls.get(opts.model);
    if (!model || model.kind !== 'model') {
      const all = [...decls.values()].filter((d) => d.kind === 'model').map((d) => d.name);
      ds.push(
        error('E_NO_MODEL', `no model named '${opts.model}'`, undefined, {
          hint: all.length ? `models: ${all.join(', ')}` : 'the file defines no model',
        }),
      );
      return { diagnostics: ds };
    }
  } else if (models.length !== 1) {
    ds.push(
      error(
        'E_NO_MODEL',
        models.length === 0
          ? `${entry?.file ?? 'the file'} defines no model`
          : `${entry!.file} defines ${models.length} models; say which`,
        undefined,
        {
          hint:
            models.length === 0
              ? 'a spec needs `model name(...) { ... }`; files in specs/lib only define blocks'
              : `use --model with one of: ${models.map((m) => m.name).join(', ')}`,
        },
      ),
    );
    return { diagnostics: ds };
  } else model = models[0]!;

  const batch = opts.batch ?? 1;
  const settings: Record<string, number | boolean | string | readonly number[]> = {};
  const builder = new GraphBuilder({ model: model.name, file: entry!.file, settings });
  const nodes = builder.nodes;
  const params = builder.params;
  const names: { name: string; node: number }[] = [];
  const groups: { name: string; members: string[] }[] = [];
  const inputs: { name: string; node: number; stride: number }[] = [];
  const outputs: { name: string; node: number }[] = [];
  const losses: LossTerm[] = [];

  // ---- the model's own parameters: defaults, then overrides from the command line
  const modelFrame: Frame = { decl: model, prefix: '', env: new Map(), outs: new Map(), depth: 0 };
  const overrides = { ...(opts.settings ?? {}) };
  for (const p of model.params) {
    try {
      let v: Value;
      if (p.name in overrides) {
        v = fromPlain(overrides[p.name]!);
        delete overrides[p.name];
        checkType(v, p.type, p.name, p.nameSpan, `--set ${p.name}`);
      } else if (p.default) {
        v = evalExpr(p.default, modelFrame);
        checkType(v, p.type, p.name, p.default.span);
      } else {
        throw new CompileError(
          error('E_ARGUMENTS', `model parameter '${p.name}' has no default and was not set`, p.nameSpan, {
            hint: `pass it: --set ${p.name}=VALUE`,
          }),
        );
      }
      modelFrame.env.set(p.name, v);
      settings[p.name] = toPlain(v);
    } catch (e) {
      record(e);
      modelFrame.env.set(p.name, 'poison');
    }
  }
  for (const k of Object.keys(overrides)) {
    ds.push(
      error('E_UNKNOWN_PARAM', `model '${model.name}' has no parameter '${k}'`, model.nameSpan, {
        hint: `its parameters: ${model.params.map((p) => p.name).join(', ') || 'none'}`,
      }),
    );
  }

  runBody(model.body, modelFrame);
  for (const [name, v] of modelFrame.outs) {
    if (v.t === 'tensor') outputs.push({ name, node: v.node });
  }
  if (ds.some((d) => d.severity === 'error')) return { diagnostics: ds };
  if (outputs.length === 0) {
    ds.push(
      error('E_NO_OUTPUT', `model '${model.name}' has no tensor 'out'`, model.nameSpan, {
        hint: 'declare the logits: `out logits = ...`',
      }),
    );
    return { diagnostics: ds };
  }
  const graph: Graph = builder.finish({ inputs, outputs, names, groups, losses });
  return { graph, diagnostics: ds };

  // ---------------------------------------------------------------------------------------------------------

  function record(e: unknown): void {
    if (e instanceof CompileError) ds.push(e.diagnostic);
    else if (!(e instanceof Poisoned)) throw e;
  }

  function runBody(stmts: readonly A.Stmt[], f: Frame): void {
    for (const s of stmts) {
      try {
        runStmt(s, f);
      } catch (e) {
        record(e);
        if (s.kind === 'assign' || s.kind === 'out' || s.kind === 'input' || s.kind === 'unused')
          f.env.set(s.name, 'poison');
      }
    }
  }

  function bind(f: Frame, name: string, v: Value): void {
    f.env.set(name, v);
    if (v.t === 'tensor') names.push({ name: f.prefix + name, node: v.node });
  }

  function runStmt(s: A.Stmt, f: Frame): void {
    switch (s.kind) {
      case 'assign': {
        bind(f, s.name, evalExpr(s.value, f, f.prefix + s.name));
        return;
      }
      case 'out': {
        // The only output of a block *is* the instance: `out y = seq(x)[...]` in a block bound as `layer1` names
        // the seq items `layer1.0`, `layer1.1`, as PyTorch names a Sequential's children.
        const transparent = f.depth > 0 && outNames(f.decl.body).size === 1;
        const v = evalExpr(s.value, f, transparent ? f.prefix.slice(0, -1) : f.prefix + s.name);
        bind(f, s.name, v);
        f.outs.set(s.name, v);
        return;
      }
      case 'unused':
        return declareUnused(s, f);
      case 'input':
        return declareInput(s, f);
      case 'if': {
        const c = evalExpr(s.cond, f);
        if (c.t !== 'bool')
          throw fail('E_TYPE', `an 'if' condition must be a bool, got ${describe(c)}`, s.cond.span);
        runBody(c.v ? s.then : (s.else ?? []), f);
        return;
      }
      case 'assert': {
        const c = evalExpr(s.cond, f);
        if (c.t !== 'bool')
          throw fail('E_TYPE', `an 'assert' condition must be a bool, got ${describe(c)}`, s.cond.span);
        if (!c.v)
          throw fail('E_ASSERT', s.message ?? 'assertion failed', s.cond.span, { notes: callNotes(f) });
        return;
      }
      case 'loss':
        return declareLoss(s, f);
    }
  }

  /** "in block 'x' called from here" notes, so an error inside a library block says how it was reached. */
  function callNotes(f: Frame): Note[] {
    return f.depth > 0 ? [{ message: `inside '${f.decl.name}', instance '${f.prefix.slice(0, -1)}'` }] : [];
  }

  function declareInput(s: Extract<A.Stmt, { kind: 'input' }>, f: Frame): void {
    const dims: number[] = [];
    const sizes = [opts.height ?? DEFAULT_SIZE, opts.width ?? DEFAULT_SIZE];
    s.dims.forEach((d, i) => {
      const spatial = i - (s.dims.length - 2); // 0 → height, 1 → width for the last two dims
      if (d.kind === 'name' && !f.env.has(d.name)) {
        if (spatial < 0)
          throw fail(
            'E_UNDEFINED',
            `'${d.name}' is not defined; only the last two (spatial) dims of an input can be size variables`,
            d.span,
          );
        f.env.set(d.name, { t: 'int', v: sizes[spatial]! });
        settings[d.name] = sizes[spatial]!;
        dims.push(sizes[spatial]!);
        return;
      }
      const v = evalExpr(d, f);
      if (v.t !== 'int' || v.v < 1)
        throw fail('E_TYPE', `an input dimension must be a positive int, got ${describe(v)}`, d.span);
      const requested = spatial === 0 ? opts.height : spatial === 1 ? opts.width : undefined;
      if (requested !== undefined && requested !== v.v)
        throw fail(
          'E_SHAPE',
          `input '${s.name}' is fixed at ${v.v} in this dimension, but ${requested} was requested`,
          d.span,
          { hint: 'make the size a variable, e.g. `input image: [3, H, W]`' },
        );
      dims.push(v.v);
    });
    let stride = 1;
    if (s.stride) {
      const v = evalExpr(s.stride, f);
      if (v.t !== 'int' || v.v < 1)
        throw fail('E_TYPE', `an input stride must be a positive int, got ${describe(v)}`, s.stride.span);
      stride = v.v;
      const [h, w] = dims.slice(-2) as [number, number];
      if (h % stride !== 0 || w % stride !== 0) {
        const ok = Math.max(stride, Math.round(h / stride) * stride);
        throw fail(
          'E_STRIDE',
          `input size ${h}×${w} is not a multiple of the output stride ${stride} that '${s.name}' declares`,
          s.stride.span,
          {
            hint: `use a size divisible by ${stride}, e.g. --size ${ok}`,
          },
        );
      }
    }
    const shape = [batch, ...dims];
    const id = builder.input(f.prefix + s.name, shape, s.span);
    inputs.push({ name: s.name, node: id, stride });
    bind(f, s.name, { t: 'tensor', node: id, shape });
  }

  function declareLoss(s: Extract<A.Stmt, { kind: 'loss' }>, f: Frame): void {
    const terms: { weight: number; call: A.CallExpr; span: Span }[] = [];
    const collect = (e: A.Expr, weight: number): void => {
      if (e.kind === 'binary' && e.op === '+') {
        collect(e.left, weight);
        collect(e.right, weight);
      } else if (e.kind === 'binary' && e.op === '*') {
        const [w, c] = e.left.kind === 'call' ? [e.right, e.left] : [e.left, e.right];
        const wv = evalExpr(w, f);
        if (wv.t !== 'int' && wv.t !== 'float')
          throw fail('E_LOSS', `a loss weight must be a number, got ${describe(wv)}`, w.span);
        collect(c, weight * wv.v);
      } else if (e.kind === 'call') {
        terms.push({ weight, call: e, span: e.span });
      } else {
        throw fail('E_LOSS', 'a loss is a sum of weighted terms like `0.2 * ce(aux, ignore = -1)`', e.span);
      }
    };
    collect(s.value, 1);
    const image = inputs[0];
    for (const t of terms) {
      const c = t.call;
      if (c.callee !== 'ce' && c.callee !== 'se_bce')
        throw fail('E_LOSS', `unknown loss '${c.callee}'`, c.calleeSpan, {
          hint: 'losses: ce (pixelwise cross-entropy), se_bce (SE-loss on class presence)',
        });
      const positional = c.args.filter((a) => a.name === undefined);
      if (positional.length !== 1)
        throw fail('E_LOSS', `${c.callee} takes one tensor: the logits it scores`, c.span);
      const x = evalExpr(positional[0]!.value, f);
      if (x.t !== 'tensor')
        throw fail('E_LOSS', `${c.callee} scores a tensor, got ${describe(x)}`, positional[0]!.span);
      const attrs: Record<string, number> = {};
      for (const a of c.args.filter((a) => a.name !== undefined)) {
        if (c.callee === 'ce' && a.name === 'ignore') {
          const v = evalExpr(a.value, f);
          if (v.t !== 'int')
            throw fail('E_TYPE', `ignore must be an int label, got ${describe(v)}`, a.value.span);
          attrs.ignore = v.v;
        } else
          throw fail('E_UNKNOWN_PARAM', `${c.callee} has no parameter '${a.name}'`, a.nameSpan ?? a.span, {
            hint: c.callee === 'ce' ? 'ce takes ignore = INT' : 'se_bce takes no options',
          });
      }
      if (c.callee === 'ce') {
        attrs.ignore ??= -1;
        if (
          x.shape.length !== 4 ||
          !image ||
          x.shape[2] !== nodes[image.node]!.shape[2] ||
          x.shape[3] !== nodes[image.node]!.shape[3]
        )
          throw fail(
            'E_LOSS',
            `ce scores [N, classes, H, W] logits at the input's size, got ${shapeToString(x.shape)}`,
            positional[0]!.span,
            {
              notes: originNotes([x]),
              hint: 'resize the logits first: ce(resize(x, like = image, align_corners = true))',
            },
          );
      } else if (x.shape.length !== 2) {
        throw fail(
          'E_LOSS',
          `se_bce scores [N, classes] logits, got ${shapeToString(x.shape)}`,
          positional[0]!.span,
          { notes: originNotes([x]) },
        );
      }
      const output =
        outputs.find((o) => o.node === x.node)?.name ??
        [...f.outs].find(([, v]) => v.t === 'tensor' && v.node === x.node)?.[0] ??
        nodes[x.node]!.name;
      losses.push({ kind: c.callee, weight: t.weight, node: x.node, output, attrs, span: t.span });
    }
  }

  function declareUnused(s: Extract<A.Stmt, { kind: 'unused' }>, f: Frame): void {
    const c = s.value as A.CallExpr;
    const layer = LAYERS.get(c.callee);
    if (!layer || !layer.declare)
      throw fail(
        'E_UNKNOWN_LAYER',
        `'unused' needs a layer that can declare its parameters from sizes (conv, linear), not '${c.callee}'`,
        c.calleeSpan,
      );
    const args = bindLayerArgs(layer, c, f, undefined, true);
    for (const p of layer.params)
      if ((p.name === 'in_channels' || p.name === 'in_features') && args[p.name] === undefined)
        throw fail(
          'E_ARGUMENTS',
          `'unused ${s.name}' needs ${p.name}: there is no input to take it from`,
          c.span,
        );
    const d = layer.declare(args);
    const op = getOp(d.op);
    for (const p of op.params?.(d.inputs, d.attrs) ?? [])
      addParam(`${f.prefix}${s.name}.${p.role}`, p, s.span, false);
  }

  function addParam(
    name: string,
    p: { role: string; shape: Shape; dtype?: 'f32' | 'i64'; init: Param['init']; trainable?: boolean },
    span: Span,
    used: boolean,
  ): number {
    const prev = builder.entryIndex(name);
    if (prev !== undefined)
      throw fail('E_DUPLICATE', `parameter '${name}' is created twice`, span, {
        notes: [{ message: 'first created here', span: params[prev]!.span }],
        hint: 'two layers got the same instance name',
      });
    return builder.entry({
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

  function originNotes(ts: readonly TensorArg[]): Note[] {
    return ts.map((t) => {
      const n = nodes[t.node]!;
      return { message: `'${n.name}' has shape ${shapeToString(n.shape)}, made here`, span: n.span };
    });
  }

  function fail(
    code: Parameters<typeof error>[0],
    message: string,
    span: Span | undefined,
    extra: { notes?: Note[]; hint?: string } = {},
  ): CompileError {
    return new CompileError(error(code, message, span, extra));
  }

  // ---- expressions ------------------------------------------------------------------------------------------

  /** `path` is the instance path a call in this position gets (only the whole right side of a binding has one). */
  function evalExpr(e: A.Expr, f: Frame, path?: string): Value {
    return unwrap(evalRaw(e, f, path));
  }

  /** A block instance with a single output stands for that output everywhere but in member access. */
  function unwrap(v: Value): Value {
    return v.t === 'instance' && v.outs.size === 1 ? [...v.outs.values()][0]! : v;
  }

  function evalRaw(e: A.Expr, f: Frame, path?: string): Value {
    switch (e.kind) {
      case 'int':
        return { t: 'int', v: e.value };
      case 'float':
        return { t: 'float', v: e.value };
      case 'bool':
        return { t: 'bool', v: e.value };
      case 'string':
        return { t: 'string', v: e.value };
      case 'name': {
        const v = f.env.get(e.name);
        if (v === 'poison') throw new Poisoned();
        if (v === undefined)
          throw fail('E_UNDEFINED', `'${e.name}' is not defined here`, e.span, {
            hint: 'it may be defined only in the branch of an `if` that was not taken',
            notes: callNotes(f),
          });
        return v;
      }
      case 'list': {
        // A list bound to a name names its items `name.0`, `name.1`, … (PyTorch's ModuleList).
        const items = e.items.map((item, k) => {
          const v = evalExpr(item, f, path === undefined ? undefined : `${path}.${k}`);
          if (path !== undefined && v.t === 'tensor' && item.kind !== 'name')
            names.push({ name: `${path}.${k}`, node: v.node });
          return v;
        });
        return { t: 'list', items };
      }
      case 'member': {
        const o = evalRaw(e.object, f);
        if (o.t === 'instance') {
          const v = o.outs.get(e.name);
          if (!v) {
            const guess = closest(e.name, o.outs.keys());
            throw fail('E_MEMBER', `'${o.block}' has no output '${e.name}'`, e.nameSpan, {
              hint: guess ? `did you mean '${guess}'?` : `its outputs: ${[...o.outs.keys()].join(', ')}`,
            });
          }
          return v;
        }
        if (o.t === 'tensor') {
          const dims: Record<string, number | undefined> = {
            batch: o.shape[0],
            channels: o.shape[1],
            height: o.shape.length === 4 ? o.shape[2] : undefined,
            width: o.shape.length === 4 ? o.shape[3] : undefined,
          };
          const v = dims[e.name];
          if (v === undefined)
            throw fail(
              'E_MEMBER',
              `a tensor of shape ${shapeToString(o.shape)} has no member '${e.name}'`,
              e.nameSpan,
              { hint: 'tensors have batch, channels, height and width' },
            );
          return { t: 'int', v };
        }
        throw fail('E_MEMBER', `${describe(o)} has no member '${e.name}'`, e.nameSpan);
      }
      case 'index': {
        const o = evalExpr(e.object, f);
        const i = evalExpr(e.index, f);
        if (o.t !== 'list')
          throw fail('E_TYPE', `only lists can be indexed, got ${describe(o)}`, e.object.span);
        if (i.t !== 'int')
          throw fail('E_TYPE', `a list index must be an int, got ${describe(i)}`, e.index.span);
        if (i.v < 0 || i.v >= o.items.length)
          throw fail('E_RANGE', `index ${i.v} is out of range for a list of ${o.items.length}`, e.index.span);
        return o.items[i.v]!;
      }
      case 'unary': {
        const v = evalExpr(e.operand, f);
        if (e.op === 'not') {
          if (v.t !== 'bool') throw fail('E_TYPE', `'not' needs a bool, got ${describe(v)}`, e.operand.span);
          return { t: 'bool', v: !v.v };
        }
        if (v.t !== 'int' && v.t !== 'float')
          throw fail('E_TYPE', `'-' needs a number, got ${describe(v)}`, e.operand.span);
        return { t: v.t, v: -v.v };
      }
      case 'binary':
        return binary(e, f);
      case 'cond': {
        const c = evalExpr(e.cond, f);
        if (c.t !== 'bool')
          throw fail('E_TYPE', `a condition must be a bool, got ${describe(c)}`, e.cond.span);
        return evalRaw(c.v ? e.then : e.else, f, path);
      }
      case 'seq':
        return seq(e, f, path);
      case 'call':
        return call(e, f, path, undefined);
    }
  }

  function binary(e: Extract<A.Expr, { kind: 'binary' }>, f: Frame): Value {
    const l = evalExpr(e.left, f);
    if (e.op === 'and' || e.op === 'or') {
      if (l.t !== 'bool') throw fail('E_TYPE', `'${e.op}' needs bools, got ${describe(l)}`, e.left.span);
      if (e.op === 'and' ? !l.v : l.v) return l;
      const r = evalExpr(e.right, f);
      if (r.t !== 'bool') throw fail('E_TYPE', `'${e.op}' needs bools, got ${describe(r)}`, e.right.span);
      return r;
    }
    const r = evalExpr(e.right, f);
    if (e.op === '==' || e.op === '!=') {
      const eq = JSON.stringify(toPlainLoose(l)) === JSON.stringify(toPlainLoose(r));
      return { t: 'bool', v: e.op === '==' ? eq : !eq };
    }
    const num = (v: Value, side: A.Expr): number => {
      if (v.t !== 'int' && v.t !== 'float')
        throw fail(
          'E_TYPE',
          `'${e.op}' needs numbers, got ${describe(v)}`,
          side.span,
          v.t === 'tensor' ? { hint: `tensors combine with layers: add(a, b), mul(a, b)` } : {},
        );
      return v.v;
    };
    const a = num(l, e.left);
    const b = num(r, e.right);
    const isInt = l.t === 'int' && r.t === 'int';
    const mk = (v: number, int: boolean): Value => (int ? { t: 'int', v } : { t: 'float', v });
    switch (e.op) {
      case '+':
        return mk(a + b, isInt);
      case '-':
        return mk(a - b, isInt);
      case '*':
        return mk(a * b, isInt);
      case '/':
        // Integer division floors (like Python's //); with a float operand it is true division.
        if (b === 0) throw fail('E_RANGE', 'division by zero', e.right.span);
        return mk(isInt ? Math.floor(a / b) : a / b, isInt);
      case '%':
        if (b === 0) throw fail('E_RANGE', 'division by zero', e.right.span);
        return mk(a - Math.floor(a / b) * b, isInt);
      case '<':
        return { t: 'bool', v: a < b };
      case '<=':
        return { t: 'bool', v: a <= b };
      case '>':
        return { t: 'bool', v: a > b };
      case '>=':
        return { t: 'bool', v: a >= b };
    }
  }

  function seq(e: Extract<A.Expr, { kind: 'seq' }>, f: Frame, path: string | undefined): Value {
    const base = path ?? anonPath(f, 'seq');
    let cur = evalExpr(e.input, f);
    let index = 0;
    for (const item of e.items) {
      let times = 1;
      if (item.repeat) {
        const r = evalExpr(item.repeat, f);
        if (r.t !== 'int' || r.v < 0)
          throw fail('E_RANGE', `a repeat count must be an int ≥ 0, got ${describe(r)}`, item.repeat.span);
        times = r.v;
      }
      for (let k = 0; k < times; k++) {
        const itemPath = `${base}.${index++}`;
        cur = unwrap(call(item.call, f, itemPath, cur));
        if (cur.t === 'tensor') names.push({ name: itemPath, node: cur.node });
      }
    }
    return cur;
  }

  function anonPath(f: Frame, what: string): string {
    return `${f.prefix}<${what}>`;
  }

  function call(c: A.CallExpr, f: Frame, path: string | undefined, implicit: Value | undefined): Value {
    if (c.callee === 'len' || c.callee === 'min' || c.callee === 'max') return builtinFunction(c, f);
    const layer = LAYERS.get(c.callee);
    if (layer) return callLayer(layer, c, f, path, implicit);
    const block = decls.get(c.callee);
    if (!block || block.kind !== 'block')
      throw fail('E_UNKNOWN_LAYER', `unknown layer or block '${c.callee}'`, c.calleeSpan);
    return callBlock(block, c, f, path, implicit);
  }

  function builtinFunction(c: A.CallExpr, f: Frame): Value {
    const vals = c.args.map((a) => {
      if (a.name !== undefined) throw fail('E_ARGUMENTS', `${c.callee} takes no keyword arguments`, a.span);
      return evalExpr(a.value, f);
    });
    if (c.callee === 'len') {
      if (vals.length !== 1 || vals[0]!.t !== 'list') throw fail('E_ARGUMENTS', 'len takes one list', c.span);
      return { t: 'int', v: (vals[0] as { items: readonly Value[] }).items.length };
    }
    if (vals.length < 1) throw fail('E_ARGUMENTS', `${c.callee} takes at least one number`, c.span);
    const nums = vals.map((v, i) => {
      if (v.t !== 'int' && v.t !== 'float')
        throw fail('E_TYPE', `${c.callee} takes numbers, got ${describe(v)}`, c.args[i]!.span);
      return v;
    });
    const pick = nums.reduce((a, b) => ((c.callee === 'min' ? b.v < a.v : b.v > a.v) ? b : a));
    return pick;
  }

  /** Binds call arguments to a builtin layer's parameters, checking types and ranges. */
  function bindLayerArgs(
    layer: LayerDef,
    c: A.CallExpr,
    f: Frame,
    implicit: Value | undefined,
    unused = false,
  ): Record<string, ArgValue | undefined> {
    const out: Record<string, ArgValue | undefined> = {};
    const given = new Map<string, { value: Value; span: Span }>();
    let open = layer.params.slice();
    if (implicit) {
      given.set(open[0]!.name, { value: implicit, span: c.span });
      open = open.slice(1);
    }
    if (unused) open = open.filter((p) => p.type !== 'tensor' && p.type !== '[tensor]');
    let pos = 0;
    for (const a of c.args) {
      const p = a.name === undefined ? open[pos++] : layer.params.find((q) => q.name === a.name);
      if (!p)
        throw fail('E_ARGUMENTS', `${c.callee}: unexpected argument`, a.span, {
          hint: `parameters: ${layer.params.map((q) => q.name).join(', ')}`,
        });
      given.set(p.name, { value: evalExpr(a.value, f), span: a.value.span });
    }
    for (const p of layer.params) {
      const g = given.get(p.name);
      if (!g) {
        if (p.default !== undefined) out[p.name] = p.default;
        else if (!p.optional && !(unused && (p.type === 'tensor' || p.type === '[tensor]')))
          throw fail('E_ARGUMENTS', `${c.callee} is missing argument '${p.name}' (${p.doc})`, c.span);
        continue;
      }
      out[p.name] = layerArg(g.value, p, c.callee, g.span);
    }
    return out;
  }

  function layerArg(v: Value, p: LayerParam, callee: string, span: Span): ArgValue {
    const wrong = (): CompileError =>
      fail('E_TYPE', `${callee}: '${p.name}' must be ${article(p.type)}, got ${describe(v)}`, span, {
        hint: p.doc,
      });
    const range = (n: number): void => {
      if (
        (p.min !== undefined && n < p.min) ||
        (p.max !== undefined && (p.exclusiveMax ? n >= p.max : n > p.max))
      )
        throw fail('E_RANGE', `${callee}: '${p.name}' is ${n}, but it must be ${rangeText(p)}`, span, {
          hint: p.doc,
        });
    };
    switch (p.type) {
      case 'tensor':
        if (v.t !== 'tensor') throw wrong();
        return { node: v.node, shape: v.shape };
      case '[tensor]':
        if (v.t !== 'list' || v.items.some((i) => i.t !== 'tensor')) throw wrong();
        return v.items.map((i) => ({
          node: (i as { node: number }).node,
          shape: (i as { shape: Shape }).shape,
        }));
      case 'int':
        if (v.t !== 'int') throw wrong();
        range(v.v);
        return v.v;
      case 'float':
        if (v.t !== 'int' && v.t !== 'float') throw wrong();
        range(v.v);
        return v.v;
      case 'bool':
        if (v.t !== 'bool') throw wrong();
        return v.v;
      case 'string':
        if (v.t !== 'string') throw wrong();
        return v.v;
      case '[int]':
      case '[float]':
        if (
          v.t !== 'list' ||
          v.items.some((i) => i.t !== 'int' && !(p.type === '[float]' && i.t === 'float'))
        )
          throw wrong();
        return v.items.map((i) => {
          const n = (i as { v: number }).v;
          range(n);
          return n;
        });
    }
  }

  function callLayer(
    layer: LayerDef,
    c: A.CallExpr,
    f: Frame,
    path: string | undefined,
    implicit: Value | undefined,
  ): Value {
    const args = bindLayerArgs(layer, c, f, implicit);
    const instPath = path ?? anonPath(f, c.callee);
    let count = 0;
    const ctx = {
      path: instPath,
      given: (name: string) =>
        c.args.some(
          (a, i) =>
            a.name === name ||
            (a.name === undefined && positionalName(layer, c, i, implicit !== undefined) === name),
        ),
      fail(
        argName: string | undefined,
        message: string,
        hint?: string,
        ins: readonly TensorArg[] = [],
      ): never {
        const arg =
          argName === undefined
            ? undefined
            : c.args.find(
                (a, i) =>
                  a.name === argName ||
                  (a.name === undefined && positionalName(layer, c, i, implicit !== undefined) === argName),
              );
        // A failure about tensors (their shapes) is a shape error; one about plain arguments is an argument error.
        throw fail(
          ins.length > 0 || (argName && ['x', 'xs', 'a', 'b'].includes(argName)) ? 'E_SHAPE' : 'E_ARGUMENTS',
          message,
          arg?.span ?? c.span,
          { notes: [...originNotes(ins), ...callNotes(f)], hint },
        );
      },
      op(opName: string, ins: readonly TensorArg[], attrs: Attrs): TensorArg {
        const op = getOp(opName);
        const shapes = ins.map((t) => t.shape);
        let shape: Shape;
        try {
          shape = op.inferShape(shapes, attrs);
        } catch (e) {
          if (!(e instanceof ShapeError)) throw e;
          throw fail('E_SHAPE', e.message, c.span, {
            notes: [...originNotes(e.inputs.map((i) => ins[i]!).filter(Boolean)), ...callNotes(f)],
          });
        }
        const decls = op.params?.(shapes, attrs) ?? [];
        if (decls.length > 0 && instPath.includes('<'))
          throw fail('E_ANON_PARAMS', `'${c.callee}' has parameters, so it needs an instance name`, c.span, {
            hint: `bind it on its own line: name = ${c.callee}(...); the name becomes its state-dict key`,
          });
        const ps = decls.map((p) => builder.param(addParam(`${instPath}.${p.role}`, p, c.span, true)));
        const name = count++ === 0 ? instPath : `${instPath}/${count}`;
        return {
          node: builder.add(
            opName,
            ins.map((t) => t.node),
            ps,
            attrs,
            { name, span: c.span },
          ),
          shape,
        };
      },
    };
    const out = layer.build(ctx, args);
    return { t: 'tensor', node: out.node, shape: out.shape };
  }

  function positionalName(
    layer: LayerDef,
    c: A.CallExpr,
    argIndex: number,
    implicit: boolean,
  ): string | undefined {
    const open = layer.params.slice(implicit ? 1 : 0);
    let pos = 0;
    for (let i = 0; i < c.args.length; i++) {
      if (c.args[i]!.name !== undefined) continue;
      if (i === argIndex) return open[pos]?.name;
      pos++;
    }
    return undefined;
  }

  function callBlock(
    block: A.Decl,
    c: A.CallExpr,
    f: Frame,
    path: string | undefined,
    implicit: Value | undefined,
  ): Value {
    if (f.depth >= MAX_DEPTH)
      throw fail('E_RECURSION', `blocks nest deeper than ${MAX_DEPTH} levels`, c.span);
    const instPath = path ?? anonPath(f, block.name);
    const inner: Frame = {
      decl: block,
      prefix: instPath + '.',
      env: new Map(),
      outs: new Map(),
      depth: f.depth + 1,
    };
    const given = new Map<string, { value: Value; span: Span }>();
    let open = block.params.slice();
    if (implicit) {
      given.set(open[0]!.name, { value: implicit, span: c.span });
      open = open.slice(1);
    }
    let pos = 0;
    for (const a of c.args) {
      const p = a.name === undefined ? open[pos++] : block.params.find((q) => q.name === a.name);
      if (!p)
        throw fail('E_ARGUMENTS', `${c.callee}: unexpected argument`, a.span, {
          notes: [{ message: `'${block.name}' is defined here`, span: block.nameSpan }],
        });
      given.set(p.name, { value: evalExpr(a.value, f), span: a.value.span });
    }
    for (const p of block.params) {
      const g = given.get(p.name);
      let v: Value;
      if (g) {
        v = g.value;
        checkType(v, p.type, p.name, g.span, undefined, block);
      } else if (p.default) {
        v = evalExpr(p.default, inner);
        checkType(v, p.type, p.name, p.default.span, undefined, block);
      } else
        throw fail('E_ARGUMENTS', `${c.callee} is missing argument '${p.name}'`, c.span, {
          notes: [{ message: `'${block.name}' is defined here`, span: block.nameSpan }],
        });
      inner.env.set(p.name, v);
    }
    const before = ds.length;
    runBody(block.body, inner);
    if (ds.slice(before).some((d) => d.severity === 'error')) throw new Poisoned();
    if (inner.outs.size === 0)
      throw fail('E_NO_OUTPUT', `block '${block.name}' produced no output`, c.span, {
        notes: [{ message: 'defined here', span: block.nameSpan }],
      });
    if (inner.outs.size > 1)
      groups.push({ name: instPath, members: [...inner.outs.keys()].map((o) => `${instPath}.${o}`) });
    if (inner.outs.size > 1)
      for (const [name, v] of inner.outs)
        if (v.t === 'tensor' && !names.some((n) => n.name === `${instPath}.${name}`))
          names.push({ name: `${instPath}.${name}`, node: v.node });
    return { t: 'instance', block: block.name, outs: inner.outs, span: c.span };
  }

  function checkType(v: Value, t: A.TypeRef, name: string, span: Span, where?: string, block?: A.Decl): void {
    if (matches(v, t)) return;
    throw fail(
      'E_TYPE',
      `'${name}' must be ${article(typeToString(t))}, got ${describe(v)}${where ? ` (from ${where})` : ''}`,
      span,
      {
        notes: block
          ? [
              {
                message: `parameter '${name}' of '${block.name}' is declared here`,
                span: block.params.find((p) => p.name === name)?.span,
              },
            ]
          : [],
      },
    );
  }
}

function outNames(stmts: readonly A.Stmt[], acc = new Set<string>()): Set<string> {
  for (const s of stmts) {
    if (s.kind === 'out') acc.add(s.name);
    if (s.kind === 'if') {
      outNames(s.then, acc);
      outNames(s.else ?? [], acc);
    }
  }
  return acc;
}

function matches(v: Value, t: A.TypeRef): boolean {
  switch (t.kind) {
    case 'tensor':
      return v.t === 'tensor';
    case 'int':
      return v.t === 'int';
    case 'float':
      return v.t === 'float' || v.t === 'int';
    case 'bool':
      return v.t === 'bool';
    case 'string':
      return v.t === 'string';
    case 'list':
      return v.t === 'list' && v.items.every((i) => matches(i, t.of));
  }
}

function describe(v: Value): string {
  switch (v.t) {
    case 'int':
    case 'float':
      return `${v.t} ${v.v}`;
    case 'bool':
      return `bool ${v.v}`;
    case 'string':
      return `string ${JSON.stringify(v.v)}`;
    case 'list':
      return `a list of ${v.items.length}`;
    case 'tensor':
      return `a tensor ${shapeToString(v.shape)}`;
    case 'instance':
      return `an instance of '${v.block}' with outputs ${[...v.outs.keys()].join(', ')} (pick one with .name)`;
  }
}

function article(type: string): string {
  return type.startsWith('[') ? `a list ${type}` : /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function rangeText(p: LayerParam): string {
  if (p.min !== undefined && p.max !== undefined)
    return `in [${p.min}, ${p.max}${p.exclusiveMax ? ')' : ']'}`;
  if (p.min !== undefined) return `≥ ${p.min}`;
  return `${p.exclusiveMax ? '<' : '≤'} ${p.max}`;
}

function fromPlain(v: number | boolean | string | readonly number[]): Value {
  if (typeof v === 'boolean') return { t: 'bool', v };
  if (typeof v === 'string') return { t: 'string', v };
  if (typeof v === 'number') return Number.isInteger(v) ? { t: 'int', v } : { t: 'float', v };
  return { t: 'list', items: v.map((x) => fromPlain(x)) };
}

function toPlain(v: Value): number | boolean | string | readonly number[] {
  if (v.t === 'int' || v.t === 'float' || v.t === 'bool' || v.t === 'string') return v.v;
  if (v.t === 'list') return v.items.map((i) => (i.t === 'int' || i.t === 'float' ? i.v : NaN));
  return NaN;
}

function toPlainLoose(v: Value): unknown {
  if (v.t === 'list') return v.items.map(toPlainLoose);
  if (v.t === 'tensor') return { node: v.node };
  if (v.t === 'instance') return { instance: v.span };
  return v.v;
}
