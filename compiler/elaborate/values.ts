// The values elaboration computes with: numbers, bools, strings, lists, tensors (a node of the graph being
// built, with its shape) and block instances (the outputs of a block call). Pure helpers on them: how a value
// is described in messages, whether it matches a declared type, and conversion from and to the plain values of
// the command line (`--set width=4`) and of Graph.settings.
import type * as A from '../frontend/ast.ts';
import type { Span } from '../diagnostics.ts';
import type { LayerParam } from '../ops/op.ts';
import { shapeToString, type Shape } from '../ir/types.ts';

export type Value =
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

/** A plain value: a model parameter set from the command line, or recorded in Graph.settings. */
export type Plain = number | boolean | string | readonly number[];

/** A block instance with a single output stands for that output everywhere but in member access. */
export function unwrap(v: Value): Value {
  return v.t === 'instance' && v.outs.size === 1 ? [...v.outs.values()][0]! : v;
}

export function matches(v: Value, t: A.TypeRef): boolean {
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

export function describe(v: Value): string {
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

export function article(type: string): string {
  return type.startsWith('[') ? `a list ${type}` : /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

/** A layer parameter's allowed range in words: `in [0, 1)`, `≥ 1`, `≤ 8`. */
export function rangeText(p: LayerParam): string {
  if (p.min !== undefined && p.max !== undefined)
    return `in [${p.min}, ${p.max}${p.exclusiveMax ? ')' : ']'}`;
  if (p.min !== undefined) return `≥ ${p.min}`;
  return `${p.exclusiveMax ? '<' : '≤'} ${p.max}`;
}

export function fromPlain(v: Plain): Value {
  if (typeof v === 'boolean') return { t: 'bool', v };
  if (typeof v === 'string') return { t: 'string', v };
  if (typeof v === 'number') return Number.isInteger(v) ? { t: 'int', v } : { t: 'float', v };
  return { t: 'list', items: v.map((x) => fromPlain(x)) };
}

export function toPlain(v: Value): Plain {
  if (v.t === 'int' || v.t === 'float' || v.t === 'bool' || v.t === 'string') return v.v;
  if (v.t === 'list') return v.items.map((i) => (i.t === 'int' || i.t === 'float' ? i.v : NaN));
  return NaN;
}

/** A comparable form for `==` / `!=`: tensors by node, instances by the call that made them. */
export function toPlainLoose(v: Value): unknown {
  if (v.t === 'list') return v.items.map(toPlainLoose);
  if (v.t === 'tensor') return { node: v.node };
  if (v.t === 'instance') return { instance: v.span };
  return v.v;
}
