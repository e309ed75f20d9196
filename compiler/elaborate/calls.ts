// Calls: builtin layers (arguments bound to the layer's typed parameters, then its `build` adds op nodes whose
// shape rules run as they are made), blocks (expanded inline in a new frame under the call's instance path) and
// `seq` (items numbered like a PyTorch Sequential).
import type { CompileError, Span } from '../diagnostics.ts';
import type * as A from '../frontend/ast.ts';
import { typeToString } from '../frontend/ast.ts';
import { getOp, LAYERS } from '../ops/index.ts';
import { ShapeError, type ArgValue, type LayerDef, type LayerParam, type TensorArg } from '../ops/op.ts';
import type { Attrs, Shape } from '../ir/types.ts';
import { anonPath, callNotes, fail, MAX_DEPTH, Poisoned, type Context, type Frame } from './context.ts';
import { BUILTIN_FUNCTIONS, builtinFunction, evalExpr } from './expr.ts';
import { runBody } from './stmts.ts';
import { article, describe, matches, rangeText, unwrap, type Value } from './values.ts';

/** A call to a builtin function, a layer or a block. `implicit` is the tensor `seq` passes to an item. */
export function call(
  cx: Context,
  c: A.CallExpr,
  f: Frame,
  path: string | undefined,
  implicit: Value | undefined,
): Value {
  if (BUILTIN_FUNCTIONS.has(c.callee)) return builtinFunction(cx, c, f);
  const layer = LAYERS.get(c.callee);
  if (layer) return callLayer(cx, layer, c, f, path, implicit);
  const block = cx.decls.get(c.callee);
  if (!block || block.kind !== 'block')
    throw fail('E_UNKNOWN_LAYER', `unknown layer or block '${c.callee}'`, c.calleeSpan);
  return callBlock(cx, block, c, f, path, implicit);
}

/** `seq(x) [item, item * n, …]`: each item takes the previous output; items are named `path.0`, `path.1`, … */
export function seq(
  cx: Context,
  e: Extract<A.Expr, { kind: 'seq' }>,
  f: Frame,
  path: string | undefined,
): Value {
  const base = path ?? anonPath(f, 'seq');
  let cur = evalExpr(cx, e.input, f);
  let index = 0;
  for (const item of e.items) {
    let times = 1;
    if (item.repeat) {
      const r = evalExpr(cx, item.repeat, f);
      if (r.t !== 'int' || r.v < 0)
        throw fail('E_RANGE', `a repeat count must be an int ≥ 0, got ${describe(r)}`, item.repeat.span);
      times = r.v;
    }
    for (let k = 0; k < times; k++) {
      const itemPath = `${base}.${index++}`;
      cur = unwrap(call(cx, item.call, f, itemPath, cur));
      if (cur.t === 'tensor') cx.names.push({ name: itemPath, node: cur.node });
    }
  }
  return cur;
}

// ---- builtin layers -----------------------------------------------------------------------------------------

/**
 * Binds call arguments to a builtin layer's parameters, checking types and ranges. `unused` (an `unused`
 * declaration) leaves out the tensor parameters: there is no input.
 */
export function bindLayerArgs(
  cx: Context,
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
    given.set(p.name, { value: evalExpr(cx, a.value, f), span: a.value.span });
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

/** One argument of a builtin layer, checked against the parameter's type and range. */
export function layerArg(v: Value, p: LayerParam, callee: string, span: Span): ArgValue {
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
      if (v.t !== 'list' || v.items.some((i) => i.t !== 'int' && !(p.type === '[float]' && i.t === 'float')))
        throw wrong();
      return v.items.map((i) => {
        const n = (i as { v: number }).v;
        range(n);
        return n;
      });
  }
}

/**
 * Calls a builtin layer: binds its arguments, then runs its `build`, which adds op nodes through `ctx.op`. Each
 * node's shape rule runs as it is made (a failure is an E_SHAPE at the call, with notes at its inputs' origins);
 * its parameters become state-dict entries under the instance path.
 */
export function callLayer(
  cx: Context,
  layer: LayerDef,
  c: A.CallExpr,
  f: Frame,
  path: string | undefined,
  implicit: Value | undefined,
): Value {
  const args = bindLayerArgs(cx, layer, c, f, implicit);
  const instPath = path ?? anonPath(f, c.callee);
  let count = 0;
  const argNamed = (name: string) => (a: A.CallExpr['args'][number], i: number) =>
    a.name === name || (a.name === undefined && positionalName(layer, c, i, implicit !== undefined) === name);
  const ctx = {
    path: instPath,
    given: (name: string) => c.args.some(argNamed(name)),
    fail(argName: string | undefined, message: string, hint?: string, ins: readonly TensorArg[] = []): never {
      const arg = argName === undefined ? undefined : c.args.find(argNamed(argName));
      // A failure about tensors (their shapes) is a shape error; one about plain arguments is an argument error.
      throw fail(
        ins.length > 0 || (argName && ['x', 'xs', 'a', 'b'].includes(argName)) ? 'E_SHAPE' : 'E_ARGUMENTS',
        message,
        arg?.span ?? c.span,
        { notes: [...cx.originNotes(ins), ...callNotes(f)], hint },
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
          notes: [...cx.originNotes(e.inputs.map((i) => ins[i]!).filter(Boolean)), ...callNotes(f)],
        });
      }
      const decls = op.params?.(shapes, attrs) ?? [];
      if (decls.length > 0 && instPath.includes('<'))
        throw fail('E_ANON_PARAMS', `'${c.callee}' has parameters, so it needs an instance name`, c.span, {
          hint: `bind it on its own line: name = ${c.callee}(...); the name becomes its state-dict key`,
        });
      const ps = decls.map((p) => cx.builder.param(cx.addParam(`${instPath}.${p.role}`, p, c.span, true)));
      const name = count++ === 0 ? instPath : `${instPath}/${count}`;
      const node = cx.builder.add(
        opName,
        ins.map((t) => t.node),
        ps,
        attrs,
        { name, span: c.span },
      );
      return { node, shape };
    },
  };
  const out = layer.build(ctx, args);
  return { t: 'tensor', node: out.node, shape: out.shape };
}

/** The parameter a positional argument fills (the first tensor parameter is taken when `implicit`). */
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

// ---- blocks -------------------------------------------------------------------------------------------------

/**
 * Calls a block: binds its parameters (defaults may use earlier ones) in a new frame under the call's instance
 * path and runs its body. An error inside poisons the call. A block with several outputs is recorded as a group
 * (`head.encmodule`) whose outputs are named values.
 */
export function callBlock(
  cx: Context,
  block: A.Decl,
  c: A.CallExpr,
  f: Frame,
  path: string | undefined,
  implicit: Value | undefined,
): Value {
  if (f.depth >= MAX_DEPTH) throw fail('E_RECURSION', `blocks nest deeper than ${MAX_DEPTH} levels`, c.span);
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
    given.set(p.name, { value: evalExpr(cx, a.value, f), span: a.value.span });
  }
  for (const p of block.params) {
    const g = given.get(p.name);
    let v: Value;
    if (g) {
      v = g.value;
      checkType(v, p.type, p.name, g.span, undefined, block);
    } else if (p.default) {
      v = evalExpr(cx, p.default, inner);
      checkType(v, p.type, p.name, p.default.span, undefined, block);
    } else
      throw fail('E_ARGUMENTS', `${c.callee} is missing argument '${p.name}'`, c.span, {
        notes: [{ message: `'${block.name}' is defined here`, span: block.nameSpan }],
      });
    inner.env.set(p.name, v);
  }
  const before = cx.ds.length;
  runBody(cx, block.body, inner);
  if (cx.ds.slice(before).some((d) => d.severity === 'error')) throw new Poisoned();
  if (inner.outs.size === 0)
    throw fail('E_NO_OUTPUT', `block '${block.name}' produced no output`, c.span, {
      notes: [{ message: 'defined here', span: block.nameSpan }],
    });
  if (inner.outs.size > 1) {
    cx.groups.push({ name: instPath, members: [...inner.outs.keys()].map((o) => `${instPath}.${o}`) });
    for (const [name, v] of inner.outs)
      if (v.t === 'tensor' && !cx.names.some((n) => n.name === `${instPath}.${name}`))
        cx.names.push({ name: `${instPath}.${name}`, node: v.node });
  }
  return { t: 'instance', block: block.name, outs: inner.outs, span: c.span };
}

/**
 * Checks a block or model parameter's value against its declared type. `where` names a command-line origin
 * (`--set width`); `block` adds a note at the parameter's declaration.
 */
export function checkType(
  v: Value,
  t: A.TypeRef,
  name: string,
  span: Span,
  where?: string,
  block?: A.Decl,
): void {
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
