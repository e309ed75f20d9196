// Statements: bindings and outputs (which give calls their instance names), `if`, `assert`, and the model-only
// declarations: inputs (size variables bound from the requested size), losses and `unused` layers (parameters
// a checkpoint has but the forward pass never runs). A failing statement records its diagnostic and poisons the
// name it binds, so later uses do not cascade while independent statements are still checked.
import type { Span } from '../diagnostics.ts';
import type * as A from '../frontend/ast.ts';
import { getOp, LAYERS } from '../ops/index.ts';
import { shapeToString } from '../ir/types.ts';
import { bindLayerArgs } from './calls.ts';
import { callNotes, DEFAULT_SIZE, fail, type Context, type Frame } from './context.ts';
import { evalExpr } from './expr.ts';
import { describe } from './values.ts';

export function runBody(cx: Context, stmts: readonly A.Stmt[], f: Frame): void {
  for (const s of stmts) {
    try {
      runStmt(cx, s, f);
    } catch (e) {
      cx.record(e);
      if (s.kind === 'assign' || s.kind === 'out' || s.kind === 'input' || s.kind === 'unused')
        f.env.set(s.name, 'poison');
    }
  }
}

function runStmt(cx: Context, s: A.Stmt, f: Frame): void {
  switch (s.kind) {
    case 'assign': {
      cx.bind(f, s.name, evalExpr(cx, s.value, f, f.prefix + s.name));
      return;
    }
    case 'out': {
      // The only output of a block *is* the instance: `out y = seq(x)[...]` in a block bound as `layer1` names
      // the seq items `layer1.0`, `layer1.1`, as PyTorch names a Sequential's children.
      const transparent = f.depth > 0 && outNames(f.decl.body).size === 1;
      const v = evalExpr(cx, s.value, f, transparent ? f.prefix.slice(0, -1) : f.prefix + s.name);
      cx.bind(f, s.name, v);
      f.outs.set(s.name, v);
      return;
    }
    case 'unused':
      return declareUnused(cx, s, f);
    case 'input':
      return declareInput(cx, s, f);
    case 'if': {
      const c = evalExpr(cx, s.cond, f);
      if (c.t !== 'bool')
        throw fail('E_TYPE', `an 'if' condition must be a bool, got ${describe(c)}`, s.cond.span);
      runBody(cx, c.v ? s.then : (s.else ?? []), f);
      return;
    }
    case 'assert': {
      const c = evalExpr(cx, s.cond, f);
      if (c.t !== 'bool')
        throw fail('E_TYPE', `an 'assert' condition must be a bool, got ${describe(c)}`, s.cond.span);
      if (!c.v) throw fail('E_ASSERT', s.message ?? 'assertion failed', s.cond.span, { notes: callNotes(f) });
      return;
    }
    case 'loss':
      return declareLoss(cx, s, f);
  }
}

/** The names a body declares with `out`, in either branch of an `if`. */
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

/**
 * `input image: [3, H, W] stride 32`: size variables in the last two dims are bound from the requested size;
 * fixed dims must equal it. The stride is not checked against the size.
 */
function declareInput(cx: Context, s: Extract<A.Stmt, { kind: 'input' }>, f: Frame): void {
  const { opts } = cx;
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
      cx.settings[d.name] = sizes[spatial]!;
      dims.push(sizes[spatial]!);
      return;
    }
    const v = evalExpr(cx, d, f);
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
  // The stride is information (the network's output stride, recorded in Graph.inputs), not a requirement: any
  // size that every op's shape rule accepts is accepted, as PyTorch accepts it (strided convs and pools round
  // down, the JPU resizes to c2's size).
  let stride = 1;
  if (s.stride) {
    const v = evalExpr(cx, s.stride, f);
    if (v.t !== 'int' || v.v < 1)
      throw fail('E_STRIDE', `an input stride must be a positive int, got ${describe(v)}`, s.stride.span);
    stride = v.v;
  }
  const shape = [cx.batch, ...dims];
  const id = cx.builder.input(f.prefix + s.name, shape, s.span);
  cx.inputs.push({ name: s.name, node: id, stride });
  cx.bind(f, s.name, { t: 'tensor', node: id, shape });
}

/** `loss ce(logits, ignore = -1) + 0.4 * ce(aux, ignore = -1)`: a weighted sum of known loss terms. */
function declareLoss(cx: Context, s: Extract<A.Stmt, { kind: 'loss' }>, f: Frame): void {
  const terms: { weight: number; call: A.CallExpr; span: Span }[] = [];
  const collect = (e: A.Expr, weight: number): void => {
    if (e.kind === 'binary' && e.op === '+') {
      collect(e.left, weight);
      collect(e.right, weight);
    } else if (e.kind === 'binary' && e.op === '*') {
      const [w, c] = e.left.kind === 'call' ? [e.right, e.left] : [e.left, e.right];
      const wv = evalExpr(cx, w, f);
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
  const image = cx.inputs[0];
  for (const t of terms) {
    const c = t.call;
    if (c.callee !== 'ce' && c.callee !== 'se_bce')
      throw fail('E_LOSS', `unknown loss '${c.callee}'`, c.calleeSpan, {
        hint: 'losses: ce (pixelwise cross-entropy), se_bce (SE-loss on class presence)',
      });
    const positional = c.args.filter((a) => a.name === undefined);
    if (positional.length !== 1)
      throw fail('E_LOSS', `${c.callee} takes one tensor: the logits it scores`, c.span);
    const x = evalExpr(cx, positional[0]!.value, f);
    if (x.t !== 'tensor')
      throw fail('E_LOSS', `${c.callee} scores a tensor, got ${describe(x)}`, positional[0]!.span);
    const attrs: Record<string, number> = {};
    for (const a of c.args.filter((a) => a.name !== undefined)) {
      if (c.callee === 'ce' && a.name === 'ignore') {
        const v = evalExpr(cx, a.value, f);
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
        x.shape[2] !== cx.nodes[image.node]!.shape[2] ||
        x.shape[3] !== cx.nodes[image.node]!.shape[3]
      )
        throw fail(
          'E_LOSS',
          `ce scores [N, classes, H, W] logits at the input's size, got ${shapeToString(x.shape)}`,
          positional[0]!.span,
          {
            notes: cx.originNotes([x]),
            hint: 'resize the logits first: ce(resize(x, like = image, align_corners = true))',
          },
        );
    } else if (x.shape.length !== 2) {
      throw fail(
        'E_LOSS',
        `se_bce scores [N, classes] logits, got ${shapeToString(x.shape)}`,
        positional[0]!.span,
        {
          notes: cx.originNotes([x]),
        },
      );
    }
    const output =
      cx.outputs.find((o) => o.node === x.node)?.name ??
      [...f.outs].find(([, v]) => v.t === 'tensor' && v.node === x.node)?.[0] ??
      cx.nodes[x.node]!.name;
    cx.losses.push({ kind: c.callee, weight: t.weight, node: x.node, output, attrs, span: t.span });
  }
}

/** `unused fc = linear(features, in_features = 2048)`: the layer's parameters, marked as never run. */
function declareUnused(cx: Context, s: Extract<A.Stmt, { kind: 'unused' }>, f: Frame): void {
  const c = s.value as A.CallExpr;
  const layer = LAYERS.get(c.callee);
  if (!layer || !layer.declare)
    throw fail(
      'E_UNKNOWN_LAYER',
      `'unused' needs a layer that can declare its parameters from sizes (conv, linear), not '${c.callee}'`,
      c.calleeSpan,
    );
  const args = bindLayerArgs(cx, layer, c, f, undefined, true);
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
    cx.addParam(`${f.prefix}${s.name}.${p.role}`, p, s.span, false);
}
