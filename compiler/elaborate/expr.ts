// Expressions: literals, names, lists (a bound list of calls names its items like a ModuleList), member access
// (an instance's output, a tensor's batch/channels/height/width), indexing, unary and binary operators, the
// conditional, and the builtin functions len/min/max. Calls and `seq` are in calls.ts.
import { closest } from '../diagnostics.ts';
import type * as A from '../frontend/ast.ts';
import { shapeToString } from '../ir/types.ts';
import { call, seq } from './calls.ts';
import { callNotes, fail, Poisoned, type Context, type Frame } from './context.ts';
import { describe, toPlainLoose, unwrap, type Value } from './values.ts';

/** `path` is the instance path a call in this position gets (only the whole right side of a binding has one). */
export function evalExpr(cx: Context, e: A.Expr, f: Frame, path?: string): Value {
  return unwrap(evalRaw(cx, e, f, path));
}

/** Like evalExpr, but a single-output block instance stays an instance (for member access). */
function evalRaw(cx: Context, e: A.Expr, f: Frame, path?: string): Value {
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
        const v = evalExpr(cx, item, f, path === undefined ? undefined : `${path}.${k}`);
        if (path !== undefined && v.t === 'tensor' && item.kind !== 'name')
          cx.names.push({ name: `${path}.${k}`, node: v.node });
        return v;
      });
      return { t: 'list', items };
    }
    case 'member':
      return member(cx, e, f);
    case 'index': {
      const o = evalExpr(cx, e.object, f);
      const i = evalExpr(cx, e.index, f);
      if (o.t !== 'list')
        throw fail('E_TYPE', `only lists can be indexed, got ${describe(o)}`, e.object.span);
      if (i.t !== 'int')
        throw fail('E_TYPE', `a list index must be an int, got ${describe(i)}`, e.index.span);
      if (i.v < 0 || i.v >= o.items.length)
        throw fail('E_RANGE', `index ${i.v} is out of range for a list of ${o.items.length}`, e.index.span);
      return o.items[i.v]!;
    }
    case 'unary': {
      const v = evalExpr(cx, e.operand, f);
      if (e.op === 'not') {
        if (v.t !== 'bool') throw fail('E_TYPE', `'not' needs a bool, got ${describe(v)}`, e.operand.span);
        return { t: 'bool', v: !v.v };
      }
      if (v.t !== 'int' && v.t !== 'float')
        throw fail('E_TYPE', `'-' needs a number, got ${describe(v)}`, e.operand.span);
      return { t: v.t, v: -v.v };
    }
    case 'binary':
      return binary(cx, e, f);
    case 'cond': {
      const c = evalExpr(cx, e.cond, f);
      if (c.t !== 'bool') throw fail('E_TYPE', `a condition must be a bool, got ${describe(c)}`, e.cond.span);
      return evalRaw(cx, c.v ? e.then : e.else, f, path);
    }
    case 'seq':
      return seq(cx, e, f, path);
    case 'call':
      return call(cx, e, f, path, undefined);
  }
}

function member(cx: Context, e: Extract<A.Expr, { kind: 'member' }>, f: Frame): Value {
  const o = evalRaw(cx, e.object, f);
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
        {
          hint: 'tensors have batch, channels, height and width',
        },
      );
    return { t: 'int', v };
  }
  throw fail('E_MEMBER', `${describe(o)} has no member '${e.name}'`, e.nameSpan);
}

function binary(cx: Context, e: Extract<A.Expr, { kind: 'binary' }>, f: Frame): Value {
  const l = evalExpr(cx, e.left, f);
  if (e.op === 'and' || e.op === 'or') {
    if (l.t !== 'bool') throw fail('E_TYPE', `'${e.op}' needs bools, got ${describe(l)}`, e.left.span);
    if (e.op === 'and' ? !l.v : l.v) return l;
    const r = evalExpr(cx, e.right, f);
    if (r.t !== 'bool') throw fail('E_TYPE', `'${e.op}' needs bools, got ${describe(r)}`, e.right.span);
    return r;
  }
  const r = evalExpr(cx, e.right, f);
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

export const BUILTIN_FUNCTIONS: ReadonlySet<string> = new Set(['len', 'min', 'max']);

/** len(list), min(a, b, …), max(a, b, …). */
export function builtinFunction(cx: Context, c: A.CallExpr, f: Frame): Value {
  const vals = c.args.map((a) => {
    if (a.name !== undefined) throw fail('E_ARGUMENTS', `${c.callee} takes no keyword arguments`, a.span);
    return evalExpr(cx, a.value, f);
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
  return nums.reduce((a, b) => ((c.callee === 'min' ? b.v < a.v : b.v > a.v) ? b : a));
}
