// `fcnc compare A B`: per tensor, the largest absolute and relative difference and — for logits — how often the
// argmax over classes agrees. Relative error is max|a − b| / max|b| (B is the reference), so tensors whose values
// pass through zero are judged on their scale, not on single near-zero entries.
import { toFloat32, type StateDict } from './weights/tensor.ts';

export interface TensorComparison {
  readonly name: string;
  readonly shape: readonly number[];
  readonly maxAbs: number;
  readonly maxRel: number;
  /** Fraction of positions where argmax over axis 1 agrees (rank-2 and rank-4 tensors with ≥ 2 channels). */
  readonly argmaxAgreement?: number;
  readonly ok: boolean;
  readonly problem?: string;
}

export interface Comparison {
  readonly tensors: readonly TensorComparison[];
  readonly onlyInA: readonly string[];
  readonly onlyInB: readonly string[];
  readonly ok: boolean;
}

export function compareStateDicts(a: StateDict, b: StateDict, tolerance: number): Comparison {
  const tensors: TensorComparison[] = [];
  for (const [name, tb] of b) {
    const ta = a.get(name);
    if (!ta) continue;
    const shapeOk = ta.shape.length === tb.shape.length && ta.shape.every((d, i) => d === tb.shape[i]);
    if (!shapeOk) {
      tensors.push({
        name,
        shape: tb.shape,
        maxAbs: NaN,
        maxRel: NaN,
        ok: false,
        problem: `shapes differ: [${ta.shape.join(', ')}] vs [${tb.shape.join(', ')}]`,
      });
      continue;
    }
    const x = toFloat32(ta);
    const y = toFloat32(tb);
    let maxAbs = 0;
    let scale = 0;
    let nonFinite = false;
    for (let i = 0; i < y.length; i++) {
      const d = Math.abs(x[i]! - y[i]!);
      if (!Number.isFinite(x[i]!) || !Number.isFinite(y[i]!))
        nonFinite = nonFinite || Number.isFinite(x[i]!) !== Number.isFinite(y[i]!) || x[i] !== y[i];
      else maxAbs = Math.max(maxAbs, d);
      scale = Math.max(scale, Math.abs(y[i]!));
    }
    const maxRel = scale > 0 ? maxAbs / scale : maxAbs;
    const argmaxAgreement =
      (tb.shape.length === 4 || tb.shape.length === 2) && tb.shape[1]! > 1
        ? argmaxAgree(x, y, tb.shape)
        : undefined;
    const ok = !nonFinite && maxRel <= tolerance;
    tensors.push({
      name,
      shape: tb.shape,
      maxAbs,
      maxRel,
      argmaxAgreement,
      ok,
      problem: nonFinite ? 'non-finite values differ' : undefined,
    });
  }
  const onlyInA = [...a.keys()].filter((k) => !b.has(k));
  const onlyInB = [...b.keys()].filter((k) => !a.has(k));
  return {
    tensors,
    onlyInA,
    onlyInB,
    ok: tensors.every((t) => t.ok) && onlyInA.length === 0 && onlyInB.length === 0 && tensors.length > 0,
  };
}

function argmaxAgree(x: Float32Array, y: Float32Array, shape: readonly number[]): number {
  const [n, k] = shape as [number, number];
  const plane = shape.length === 4 ? shape[2]! * shape[3]! : 1;
  let agree = 0;
  for (let b = 0; b < n; b++)
    for (let p = 0; p < plane; p++) {
      let ia = 0;
      let ib = 0;
      for (let c = 1; c < k; c++) {
        const off = (b * k + c) * plane + p;
        if (x[off]! > x[(b * k + ia) * plane + p]!) ia = c;
        if (y[off]! > y[(b * k + ib) * plane + p]!) ib = c;
      }
      if (ia === ib) agree++;
    }
  return agree / (n * plane);
}

export function formatComparison(c: Comparison, tolerance: number): string {
  const rows = c.tensors.map((t) => [
    t.ok ? 'ok' : 'FAIL',
    t.name,
    `[${t.shape.join(', ')}]`,
    Number.isNaN(t.maxAbs) ? '-' : t.maxAbs.toExponential(2),
    Number.isNaN(t.maxRel) ? '-' : t.maxRel.toExponential(2),
    t.argmaxAgreement === undefined ? '' : `${(100 * t.argmaxAgreement).toFixed(2)}%`,
    t.problem ?? '',
  ]);
  const head = ['', 'tensor', 'shape', 'max abs', 'max rel', 'argmax agree', ''];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) =>
    r
      .map((s, i) => s.padEnd(w[i]!))
      .join('  ')
      .trimEnd();
  const lines = [fmt(head), ...rows.map(fmt)];
  if (c.onlyInA.length) lines.push(`only in A: ${c.onlyInA.join(', ')}`);
  if (c.onlyInB.length) lines.push(`only in B: ${c.onlyInB.join(', ')}`);
  const failed = c.tensors.filter((t) => !t.ok).length;
  lines.push(
    c.ok
      ? `all ${c.tensors.length} tensors within relative tolerance ${tolerance}`
      : c.tensors.length === 0
        ? 'no tensor names in common'
        : `${failed} of ${c.tensors.length} tensors exceed relative tolerance ${tolerance}${c.onlyInA.length + c.onlyInB.length ? '; some tensors are missing on one side' : ''}`,
  );
  return lines.join('\n') + '\n';
}
