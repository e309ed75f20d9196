// Parity with PyTorch: every narrow FastFCN family, built from our spec, run by our float64 reference
// interpreter on the weights and input of test/fixtures/parity/<variant>/ and compared with the outputs that
// an independent torch.nn implementation of the reference document computed in float64 from the same
// float32-rounded data (test/fixtures/parity/make_parity_fixtures.py; enc_bilinear and enc_fpn are our own
// reconstructions, built there from our spec's topology). Every fixture tensor must have a counterpart in the
// graph (an output or a named value) and match it to 1e-6 of its largest magnitude. Each family is checked at
// 64×64; some also at an odd size (<variant>/67x93/: same weights, another input), where strided convs and pools
// round and every resize targets a feature map's actual size, as in PyTorch.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildGraph } from '../../compiler/index.ts';
import { interpret, type HostData, type RefTensor } from '../../compiler/ir/interpret.ts';
import type { Graph } from '../../compiler/ir/types.ts';
import { readSafetensors } from '../../runtime/weights/safetensors.ts';
import type { HostTensor } from '../../runtime/weights/tensor.ts';
import { ROOT } from '../helpers.ts';

const TOLERANCE = 1e-6;
const SIZE = 64;
const CLASSES = 5;
/** Odd input sizes with fixtures in test/fixtures/parity/<variant>/<H>x<W>/ (input and outputs only). */
const ODD_SIZES: ReadonlyMap<string, readonly [number, number]> = new Map([
  ['enc_jpu_r50', [67, 93]],
  ['enc_fpn_r50', [67, 93]],
  ['aspp_jpu_r50', [67, 93]],
  ['psp_dilated_r50', [67, 93]],
]);

type Head = 'enc' | 'enc_fpn' | 'aspp' | 'psp';
type Upsampler = 'jpu' | 'jpux' | 'bilinear' | 'none';

interface Family {
  readonly variant: string;
  readonly width: number;
  readonly head: Head;
  readonly upsampler: Upsampler;
}

const FAMILIES: readonly Family[] = [
  { variant: 'enc_jpu_r50', width: 4, head: 'enc', upsampler: 'jpu' },
  { variant: 'enc_dilated_r50', width: 4, head: 'enc', upsampler: 'none' },
  { variant: 'enc_bilinear_r50', width: 4, head: 'enc', upsampler: 'bilinear' }, // our reconstruction
  { variant: 'enc_fpn_r50', width: 4, head: 'enc_fpn', upsampler: 'none' }, // our reconstruction
  { variant: 'aspp_jpu_r50', width: 4, head: 'aspp', upsampler: 'jpu' },
  { variant: 'aspp_dilated_r50', width: 4, head: 'aspp', upsampler: 'none' },
  { variant: 'psp_jpu_r50', width: 4, head: 'psp', upsampler: 'jpu' },
  { variant: 'psp_dilated_r50', width: 4, head: 'psp', upsampler: 'none' },
  { variant: 'enc_jpux_r50', width: 8, head: 'enc', upsampler: 'jpux' }, // GroupNorm(32) needs width ≥ 8
];

/**
 * Tensors the fixture must hold and the comparison must cover: the model outputs and every top-level stage.
 * Odd-size fixtures leave out the stem's (per-pixel) BN and ReLU.
 */
function requiredNames(f: Family, odd = false): string[] {
  const names = ['logits', 'aux', 'pretrained.conv1', 'pretrained.maxpool'];
  if (!odd) names.push('pretrained.bn1', 'pretrained.relu');
  for (let l = 1; l <= 4; l++) names.push(`pretrained.layer${l}`);
  names.push('auxlayer');
  if (f.upsampler === 'jpu')
    names.push(
      'jpu',
      'jpu.conv3',
      'jpu.conv4',
      'jpu.conv5',
      'jpu.dilation1',
      'jpu.dilation2',
      'jpu.dilation3',
      'jpu.dilation4',
    );
  if (f.upsampler === 'jpux') names.push('jpu', 'jpu.jum_1', 'jpu.jum_2.conv_l', 'jpu.jum_2.dilation3'); // jum_2 = jpu
  if (f.head === 'enc' || f.head === 'enc_fpn')
    names.push(
      'se',
      'head.conv5',
      'head.encmodule.encoding',
      'head.encmodule.fc',
      'head.encmodule.selayer',
      'head.conv6',
    );
  if (f.head === 'enc_fpn') names.push('head.connect.0', 'head.connect.1', 'head.fusion');
  if (f.head === 'aspp')
    names.push(
      'head',
      'head.aspp',
      'head.aspp.b0',
      'head.aspp.b1',
      'head.aspp.b2',
      'head.aspp.b3',
      'head.aspp.b4',
    );
  if (f.head === 'psp') names.push('head', 'head.conv5.0');
  return names;
}

/** A fixture file; `dir` is a variant's folder or an odd-size folder inside it (`enc_jpu_r50/67x93`). */
function load(
  dir: string,
  file: string,
): { tensors: Map<string, HostTensor>; metadata: Record<string, string> } {
  const path = join(ROOT, 'test', 'fixtures', 'parity', dir, file);
  return readSafetensors(new Uint8Array(readFileSync(path)), path);
}

function hostData(t: HostTensor): HostData {
  if (t.dtype === 'f32' || t.dtype === 'f64' || t.dtype === 'i64') return t.data;
  throw new Error(`unexpected fixture dtype ${t.dtype}`);
}

/** Name → node id for every graph output and named value (an output name wins). */
function namedNodes(graph: Graph): Map<string, number> {
  const m = new Map<string, number>();
  for (const n of graph.names) m.set(n.name, n.node);
  for (const o of graph.outputs) m.set(o.name, o.node);
  return m;
}

interface Row {
  readonly name: string;
  readonly shape: string;
  readonly rel: number;
  readonly maxAbs: number;
}

function compare(name: string, ours: RefTensor, torch: HostTensor): Row {
  const shape = `[${torch.shape.join(', ')}]`;
  if (ours.shape.length !== torch.shape.length || ours.shape.some((d, k) => d !== torch.shape[k]))
    return { name, shape: `ours [${ours.shape.join(', ')}] vs torch ${shape}`, rel: Infinity, maxAbs: NaN };
  const t = torch.data as Float32Array;
  let maxAbs = 0,
    maxDiff = 0;
  for (let i = 0; i < t.length; i++) {
    const d = Math.abs(ours.data[i]! - t[i]!);
    maxDiff = Number.isNaN(d) ? Infinity : Math.max(maxDiff, d);
    maxAbs = Math.max(maxAbs, Math.abs(t[i]!));
  }
  return { name, shape, rel: maxDiff === 0 ? 0 : maxDiff / maxAbs, maxAbs };
}

interface FamilyRun {
  readonly graph: Graph;
  readonly weights: Map<string, HostTensor>;
  readonly rows: Row[];
  readonly unmatched: string[];
}

/**
 * Builds the family's graph at the fixture's size, runs it on the family's weights (optionally altered) and the
 * fixture's input, compares. `size` selects an odd-size fixture (`<variant>/<H>x<W>/`); default 64×64.
 */
function runFamily(
  f: Family,
  alter?: (params: Map<string, HostData>) => void,
  size?: readonly [number, number],
): FamilyRun {
  const [height, width] = size ?? [SIZE, SIZE];
  const dir = size ? join(f.variant, `${height}x${width}`) : f.variant;
  const built = buildGraph(join(ROOT, 'specs', `${f.variant}.fcn`), {
    height,
    width,
    settings: { width: f.width, classes: CLASSES },
  });
  const graph = built.graph;
  if (!graph)
    throw new Error(`${f.variant} does not build:\n${built.diagnostics.map((d) => d.message).join('\n')}`);
  const weights = load(f.variant, 'weights.safetensors');
  expect(weights.metadata.width, 'fixture width').toBe(String(f.width));
  const params = new Map<string, HostData>();
  for (const [name, t] of weights.tensors) params.set(name, hostData(t));
  alter?.(params);
  const input = load(dir, 'input.safetensors').tensors.get('image')!;
  expect(input.shape).toEqual([1, 3, height, width]);
  const result = interpret(graph, params, new Map([['image', hostData(input)]]), { keep: 'all' });

  const named = namedNodes(graph);
  const outputNode = new Map(graph.outputs.map((o) => [o.name, o.node]));
  const valueOf = (name: string, id: number): RefTensor => {
    if (outputNode.get(name) === id) return result.get(name)!;
    const nodeName = graph.nodes[id]!.name;
    const shadow = outputNode.get(nodeName);
    if (shadow !== undefined && shadow !== id)
      throw new Error(`node name '${nodeName}' is shadowed by an output`);
    return result.get(nodeName)!;
  };
  const rows: Row[] = [];
  const unmatched: string[] = [];
  for (const [name, t] of load(dir, 'outputs.safetensors').tensors) {
    const id = named.get(name);
    if (id === undefined) unmatched.push(name);
    else rows.push(compare(name, valueOf(name, id), t));
  }
  return { graph, weights: weights.tensors, rows, unmatched };
}

/** Every fixture tensor is matched by name, the required ones are among them, and all are within tolerance. */
function expectParity(label: string, f: Family, { rows, unmatched }: FamilyRun, odd: boolean): void {
  const compared = new Set(rows.map((r) => r.name));
  const worst = rows.reduce((a, r) => (r.rel > a.rel ? r : a), rows[0]!);
  console.log(
    `${label}: ${rows.length} tensors compared, worst ${worst.name} ${worst.rel.toExponential(2)} (of max |torch| ${worst.maxAbs.toPrecision(3)})`,
  );
  expect(unmatched, 'fixture tensors with no output or named value of the same name in our graph').toEqual(
    [],
  );
  expect(
    requiredNames(f, odd).filter((n) => !compared.has(n)),
    'required tensors not compared',
  ).toEqual([]);
  const bad = rows.filter((r) => !(r.rel <= TOLERANCE));
  const msg =
    bad.length === 0
      ? ''
      : `first mismatch: ${bad[0]!.name} ${bad[0]!.shape}: max|ours − torch| / max|torch| = ${bad[0]!.rel.toExponential(3)} ` +
        `(> ${TOLERANCE}); all mismatches in fixture order: ${bad.map((r) => `${r.name} ${r.rel.toExponential(2)}`).join(', ')}`;
  expect(bad.length === 0 ? null : bad[0]!.name, msg).toBeNull();
}

describe('parity with PyTorch (float64 reference interpreter vs torch.nn, narrow networks, 64×64)', () => {
  for (const f of FAMILIES) {
    it(`${f.variant} (width ${f.width})`, () => {
      const run = runFamily(f);
      const { graph, weights } = run;

      // The state dict of the torch model is our parameter list: same keys, same order, same shapes and dtypes.
      expect([...weights.keys()], 'state-dict keys (fixture) vs our param names').toEqual(
        graph.params.map((p) => p.name),
      );
      for (const p of graph.params) {
        const t = weights.get(p.name)!;
        expect({ name: p.name, shape: t.shape, dtype: t.dtype }).toEqual({
          name: p.name,
          shape: [...p.shape],
          dtype: p.dtype,
        });
      }
      expectParity(f.variant, f, run, false);
    });
  }

  // Negative controls: the comparison must catch the mistakes the reference document warns about.
  it("detects mmseg's JPU concat order [c2, c3, c4] and a sign error in the Encoding scale", () => {
    const f = FAMILIES.find((x) => x.variant === 'enc_jpu_r50')!;
    const rel = (run: FamilyRun, name: string) => run.rows.find((r) => r.name === name)!.rel;
    // Reorder the three width-8W channel blocks seen by every JPU branch: [c4, c3, c2] → [c2, c3, c4].
    const w = 8 * f.width;
    const permute = (data: HostData, inner: number, outer: number) => {
      const src = (data as Float32Array).slice();
      for (let o = 0; o < outer; o++)
        for (let b = 0; b < 3; b++)
          for (let i = 0; i < w * inner; i++)
            (data as Float32Array)[(o * 3 + b) * w * inner + i] = src[(o * 3 + (2 - b)) * w * inner + i]!;
    };
    const mmseg = runFamily(f, (p) => {
      for (let n = 1; n <= 4; n++) {
        permute(p.get(`jpu.dilation${n}.0.conv1.weight`)!, 9, 1);
        for (const r of ['weight', 'bias', 'running_mean', 'running_var'])
          permute(p.get(`jpu.dilation${n}.0.bn.${r}`)!, 1, 1);
        permute(p.get(`jpu.dilation${n}.0.pointwise.weight`)!, 1, w);
      }
    });
    expect(rel(mmseg, 'jpu.dilation1.0.conv1')).toBeGreaterThan(1e-2);
    expect(rel(mmseg, 'logits')).toBeGreaterThan(1e-2);
    const negated = runFamily(f, (p) => {
      const s = p.get('head.encmodule.encoding.3.scale') as Float32Array;
      for (let k = 0; k < s.length; k++) s[k] = -s[k]!;
    });
    expect(rel(negated, 'head.encmodule.encoding.3')).toBeGreaterThan(1e-2);
    expect(rel(negated, 'se')).toBeGreaterThan(1e-2);
  });
});

describe('parity with PyTorch at odd input sizes (no multiple of the output stride; same weights)', () => {
  it('has fixtures for every odd size listed', () => {
    expect([...ODD_SIZES.keys()].filter((v) => !FAMILIES.some((f) => f.variant === v))).toEqual([]);
  });
  for (const f of FAMILIES) {
    const size = ODD_SIZES.get(f.variant);
    if (!size) continue;
    it(`${f.variant} (width ${f.width}) at ${size[0]}×${size[1]}`, () => {
      expectParity(`${f.variant} ${size[0]}×${size[1]}`, f, runFamily(f, undefined, size), true);
    });
  }
});
