// The account of a compiled variant (`fcnc info`): per layer its output shape, parameters and MACs; totals by
// module (the top-level instances: pretrained, jpu, head, auxlayer); activation memory as the sum of every
// node's output and as the peak of live outputs when nodes run in graph order (an output is freed after its
// last reader; model outputs stay live). MACs count conv and linear only, the convention of reference §7.6.
import { getOp } from './ops/index.ts';
import { bytesOf, numel, paramIndex, type Graph } from './ir/types.ts';

export interface LayerRow {
  readonly name: string;
  readonly op: string;
  readonly shape: readonly number[];
  readonly params: number;
  readonly macs: number;
}

export interface ModuleRow {
  readonly module: string;
  readonly params: number;
  readonly macs: number;
  readonly activationBytes: number;
}

export interface Report {
  readonly model: string;
  readonly file: string;
  readonly settings: Graph['settings'];
  readonly input: { readonly name: string; readonly shape: readonly number[] }[];
  readonly outputs: { readonly name: string; readonly shape: readonly number[] }[];
  readonly layers: readonly LayerRow[];
  readonly modules: readonly ModuleRow[];
  readonly totals: {
    /** Trainable parameters (the number PyTorch's `sum(p.numel() for p in model.parameters())` gives). */
    readonly params: number;
    /** Of which in layers the forward pass never runs (`unused`, e.g. pretrained.fc). */
    readonly unusedParams: number;
    /** Every state-dict entry (parameters and buffers). */
    readonly stateDictEntries: number;
    readonly paramBytes: number;
    readonly macs: number;
    readonly activationBytes: number;
    readonly peakActivationBytes: number;
  };
}

/** The row of `info` for ops made at model level outside any block instance (input, final resizes). */
export const MODEL_LEVEL = '(model)';

export function moduleOf(name: string): string {
  return name.split(/[.<]/)[0] || name;
}

export function makeReport(g: Graph): Report {
  const nodes = g.nodes.filter((n) => n.op !== 'param');
  const layers: LayerRow[] = nodes.map((n) => {
    const op = getOp(n.op);
    const params = n.params.reduce((a, i) => {
      const p = g.params[paramIndex(g.nodes[i]!)]!;
      return a + (p.trainable ? numel(p.shape) : 0);
    }, 0);
    const macs =
      op.macs?.(
        n.inputs.map((i) => g.nodes[i]!.shape),
        n.shape,
        n.attrs,
      ) ?? 0;
    return { name: n.name, op: n.op, shape: n.shape, params, macs };
  });

  const modules = new Map<string, { params: number; macs: number; activationBytes: number }>();
  const mod = (m: string) => {
    let r = modules.get(m);
    if (!r) modules.set(m, (r = { params: 0, macs: 0, activationBytes: 0 }));
    return r;
  };
  nodes.forEach((n, i) => {
    const r = mod(moduleOf(n.name));
    r.macs += layers[i]!.macs;
    r.activationBytes += bytesOf(n.shape, n.dtype);
  });
  for (const p of g.params) if (p.trainable) mod(moduleOf(p.name)).params += numel(p.shape);
  // Top-level names without parameters (the input, the final resizes) are ops of the model itself: one row.
  const rows = [...modules].filter(([, r]) => r.params > 0);
  const rest = [...modules].filter(([, r]) => r.params === 0);
  if (rest.length > 0)
    rows.push([
      MODEL_LEVEL,
      rest.reduce(
        (a, [, r]) => ({
          params: 0,
          macs: a.macs + r.macs,
          activationBytes: a.activationBytes + r.activationBytes,
        }),
        { params: 0, macs: 0, activationBytes: 0 },
      ),
    ]);

  // Peak of live activations in execution order.
  const lastUse = new Array<number>(g.nodes.length).fill(-1);
  g.nodes.forEach((n, i) => n.inputs.forEach((k) => (lastUse[k] = Math.max(lastUse[k]!, i))));
  const keep = new Set(g.outputs.map((o) => o.node));
  let live = 0;
  let peak = 0;
  g.nodes.forEach((n, i) => {
    if (n.op === 'param') return;
    live += bytesOf(n.shape, n.dtype);
    peak = Math.max(peak, live);
    for (const k of new Set(n.inputs))
      if (lastUse[k] === i && !keep.has(k)) live -= bytesOf(g.nodes[k]!.shape, g.nodes[k]!.dtype);
    if (lastUse[i] === -1 && !keep.has(i)) live -= bytesOf(n.shape, n.dtype);
  });

  const trainable = g.params.filter((p) => p.trainable);
  return {
    model: g.model,
    file: g.file,
    settings: g.settings,
    input: g.inputs.map((i) => ({ name: i.name, shape: g.nodes[i.node]!.shape })),
    outputs: g.outputs.map((o) => ({ name: o.name, shape: g.nodes[o.node]!.shape })),
    layers,
    modules: rows.map(([module, r]) => ({ module, ...r })),
    totals: {
      params: trainable.reduce((a, p) => a + numel(p.shape), 0),
      unusedParams: trainable.filter((p) => !p.used).reduce((a, p) => a + numel(p.shape), 0),
      stateDictEntries: g.params.length,
      paramBytes: g.params.reduce((a, p) => a + bytesOf(p.shape, p.dtype), 0),
      macs: layers.reduce((a, l) => a + l.macs, 0),
      activationBytes: nodes.reduce((a, n) => a + bytesOf(n.shape, n.dtype), 0),
      peakActivationBytes: peak,
    },
  };
}

const int = (n: number): string => n.toLocaleString('en-US');
const gmacs = (n: number): string => (n / 1e9).toFixed(2);
export const mib = (n: number): string => `${(n / 2 ** 20).toFixed(1)} MiB`;

/** The human-readable table. */
export function formatReport(r: Report, opts: { layers?: boolean } = {}): string {
  const lines: string[] = [];
  const settings = Object.entries(r.settings)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? `[${v.join(',')}]` : v}`)
    .join(' ');
  lines.push(`${r.model} (${r.file})  ${settings}`);
  lines.push(
    `input ${r.input.map((i) => `${i.name} [${i.shape.join(', ')}]`).join(', ')}  →  ${r.outputs.map((o) => `${o.name} [${o.shape.join(', ')}]`).join(', ')}`,
  );
  if (opts.layers !== false) {
    const rows = r.layers.map((l) => [
      l.name,
      l.op,
      `[${l.shape.join(', ')}]`,
      l.params ? int(l.params) : '',
      l.macs ? int(l.macs) : '',
    ]);
    lines.push(
      '',
      ...table(['layer', 'op', 'output', 'params', 'MACs'], rows, [false, false, false, true, true]),
    );
  }
  const modRows = r.modules.map((m) => [m.module, int(m.params), gmacs(m.macs), mib(m.activationBytes)]);
  modRows.push(['total', int(r.totals.params), gmacs(r.totals.macs), mib(r.totals.activationBytes)]);
  lines.push('', ...table(['module', 'params', 'GMACs', 'activations'], modRows, [false, true, true, true]));
  lines.push(
    '',
    `parameters: ${int(r.totals.params)} (${int(r.totals.unusedParams)} in layers never run), ${r.totals.stateDictEntries} state-dict entries, ${mib(r.totals.paramBytes)}`,
    `activations: ${mib(r.totals.activationBytes)} if every output is kept; peak ${mib(r.totals.peakActivationBytes)} live in execution order`,
    'MACs count conv and linear layers (reference §7.6 convention).',
  );
  return lines.join('\n') + '\n';
}

function table(head: string[], rows: string[][], right: boolean[]): string[] {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) =>
    r
      .map((c, i) => (right[i] ? c.padStart(w[i]!) : c.padEnd(w[i]!)))
      .join('  ')
      .trimEnd();
  return [fmt(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(fmt)];
}
