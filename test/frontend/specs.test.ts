// Every paper variant elaborates to exactly the official model: the same state-dict keys in the same order with
// the same shapes (shared/reference/state-dicts), the parameter counts of reference §4.2 and the MACs of §7.6.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildGraph } from '../../compiler/index.ts';
import { makeReport, type Report } from '../../compiler/report.ts';
import { verifyGraph } from '../../compiler/ir/verify.ts';
import { ROOT } from '../helpers.ts';

// A copy of shared/reference/state-dicts (the official key lists), kept in the repository so any clone can test.
const STATE_DICTS = join(ROOT, 'test', 'fixtures', 'state-dicts');
const SPECS = join(ROOT, 'specs');

/** `size`: a square side, or [height, width]. */
function build(
  variant: string,
  settings: Record<string, number> = {},
  size: number | readonly [number, number] = 512,
) {
  const [height, width] = typeof size === 'number' ? [size, size] : size;
  const r = buildGraph(join(SPECS, `${variant}.fcn`), { height, width, settings });
  expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  expect(verifyGraph(r.graph!)).toEqual([]);
  return r.graph!;
}

const cache = new Map<string, Report>();
function report(variant: string, classes = 59): Report {
  const key = `${variant}/${classes}`;
  if (!cache.has(key)) cache.set(key, makeReport(build(variant, { classes })));
  return cache.get(key)!;
}

const module = (r: Report, m: string) => r.modules.find((x) => x.module === m)!;

describe('state dicts equal the official key lists', () => {
  const files = (() => {
    try {
      return readdirSync(STATE_DICTS).filter((f) => f.endsWith('.json'));
    } catch {
      return [];
    }
  })();
  it('has the reference key lists to compare with', () => expect(files.length).toBe(16));
  for (const f of files) {
    const ref = JSON.parse(readFileSync(join(STATE_DICTS, f), 'utf8')) as {
      variant: string;
      parameters: number;
      official_code: boolean;
      state_dict: [string, number[], string][];
    };
    it(`${ref.variant}${ref.official_code ? '' : ' (reconstruction)'}: keys, order, shapes, dtypes and count`, () => {
      const g = build(ref.variant);
      expect(g.params.map((p) => [p.name, p.shape, p.dtype === 'i64' ? 'int64' : 'float32'])).toEqual(
        ref.state_dict,
      );
      expect(makeReport(g).totals.params).toBe(ref.parameters);
    });
  }
});

// Reference §4.2 (59 and 150 classes, aux on, SE on for EncNet).
const PARAMS: [string, number, number][] = [
  ['enc_jpu_r50', 49_443_769, 49_560_522],
  ['enc_jpux_r50', 49_427_385, 49_544_138],
  ['psp_jpu_r50', 70_895_390, 70_965_460],
  ['aspp_jpu_r50', 63_931_934, 63_978_708],
  ['enc_jpu_r101', 68_435_897, 68_552_650],
  ['psp_jpu_r101', 89_887_518, 89_957_588],
  ['aspp_jpu_r101', 82_924_062, 82_970_836],
];

describe('parameter counts (reference §4.2)', () => {
  for (const [variant, p59, p150] of PARAMS) {
    it(`${variant}: ${p59} (59 classes), ${p150} (150 classes)`, () => {
      expect(report(variant, 59).totals.params).toBe(p59);
      expect(report(variant, 150).totals.params).toBe(p150);
      expect(report(variant, 59).totals.unusedParams).toBe(2_049_000); // pretrained.fc
    });
  }
  it('per module', () => {
    expect(module(report('enc_jpu_r50'), 'pretrained').params).toBe(25_680_808);
    expect(module(report('enc_jpu_r101'), 'pretrained').params).toBe(44_672_936);
    expect(module(report('enc_jpu_r50'), 'jpu').params).toBe(19_735_552);
    expect(module(report('enc_jpux_r50'), 'jpu').params).toBe(19_719_168);
    expect(module(report('enc_jpu_r50'), 'head').params).toBe(1_652_438);
    expect(module(report('enc_dilated_r50'), 'head').params).toBe(10_041_046);
    expect(module(report('enc_fpn_r50'), 'head').params).toBe(17_908_438); // same shapes as dilated+lateral
    expect(module(report('psp_jpu_r50'), 'head').params).toBe(23_104_059);
    expect(module(report('aspp_jpu_r50'), 'head').params).toBe(16_140_603);
    expect(module(report('enc_jpu_r50'), 'auxlayer').params).toBe(2_374_971);
  });
  it('key counts (reference §4.1)', () => {
    const counts: [string, number][] = [
      ['enc_jpu_r50', 431],
      ['enc_jpu_r101', 737],
      ['psp_jpu_r50', 438],
      ['psp_jpu_r101', 744],
      ['aspp_jpu_r50', 450],
      ['aspp_jpu_r101', 756],
      ['enc_jpux_r50', 425],
      ['enc_jpux_r101', 731],
    ];
    for (const [v, n] of counts) expect(report(v).totals.stateDictEntries, v).toBe(n);
  });
});

// Reference §7.6: GMACs at 1×3×512×512, 59 classes — [backbone, jpu, head, aux, total].
const MACS: [string, number, number | null, number, number, number][] = [
  ['enc_jpu_r50', 28.43, 30.02, 5.49, 2.43, 66.38],
  ['enc_jpux_r50', 28.43, 37.21, 5.49, 2.43, 73.57],
  ['enc_dilated_r50', 106.75, null, 39.85, 9.73, 156.33],
  ['psp_jpu_r50', 28.43, 30.02, 77.49, 2.43, 138.37],
  ['psp_dilated_r50', 106.75, null, 77.49, 9.73, 193.96],
  ['aspp_jpu_r50', 28.43, 30.02, 63.95, 2.43, 124.84],
  ['aspp_dilated_r50', 106.75, null, 63.95, 9.73, 180.42],
  ['enc_jpu_r101', 47.83, 30.02, 5.49, 2.43, 85.77],
  ['enc_dilated_r101', 184.33, null, 39.85, 9.73, 233.91],
  ['psp_jpu_r101', 47.83, 30.02, 77.49, 2.43, 157.77],
  ['psp_dilated_r101', 184.33, null, 77.49, 9.73, 271.54],
  ['aspp_jpu_r101', 47.83, 30.02, 63.95, 2.43, 144.23],
  ['aspp_dilated_r101', 184.33, null, 63.95, 9.73, 258.0],
];

describe('MACs (reference §7.6)', () => {
  const close = (got: number, gmacs: number, what: string) => {
    // The table is rounded to 0.01 G: we must round to the same value and be within 0.1%.
    expect((got / 1e9).toFixed(2), what).toBe(gmacs.toFixed(2));
    expect(Math.abs(got / 1e9 - gmacs) / gmacs, what).toBeLessThanOrEqual(1e-3 + 0.005 / gmacs);
  };
  for (const [variant, backbone, jpu, head, aux, total] of MACS) {
    it(`${variant}: ${total} GMACs`, () => {
      const r = report(variant);
      close(module(r, 'pretrained').macs, backbone, 'backbone');
      if (jpu !== null) close(module(r, 'jpu').macs, jpu, 'jpu');
      else expect(r.modules.some((m) => m.module === 'jpu')).toBe(false);
      close(module(r, 'head').macs, head, 'head');
      close(module(r, 'auxlayer').macs, aux, 'aux');
      close(r.totals.macs, total, 'total');
      expect(Math.abs(r.totals.macs / 1e9 - total) / total).toBeLessThanOrEqual(1e-3);
    });
  }
  it('the flagship: 49,443,769 parameters and 66.38 GMACs', () => {
    const r = report('enc_jpu_r50');
    expect(r.totals.params).toBe(49_443_769);
    expect(r.totals.macs).toBe(66_380_133_888);
  });
});

describe('shapes', () => {
  it('JPU variant feature sizes at 480×480 (reference §1.3)', () => {
    const g = build('enc_jpu_r50', {}, 480);
    const shape = (name: string) => g.nodes[g.names.find((n) => n.name === name)!.node]!.shape;
    expect(shape('pretrained.layer1')).toEqual([1, 256, 120, 120]);
    expect(shape('pretrained.layer2')).toEqual([1, 512, 60, 60]);
    expect(shape('pretrained.layer3')).toEqual([1, 1024, 30, 30]);
    expect(shape('pretrained.layer4')).toEqual([1, 2048, 15, 15]);
    expect(shape('jpu')).toEqual([1, 2048, 60, 60]);
    expect(shape('head.encmodule.encoding')).toEqual([1, 512]);
    expect(shape('head.encmodule.encoding.3')).toEqual([1, 32, 512]);
    expect(shape('logits')).toEqual([1, 59, 480, 480]);
    expect(shape('se')).toEqual([1, 59]);
  });
  it('dilated variant keeps OS8 (reference §1.3)', () => {
    const g = build('psp_dilated_r50', {}, 480);
    const shape = (name: string) => g.nodes[g.names.find((n) => n.name === name)!.node]!.shape;
    expect(shape('pretrained.layer3')).toEqual([1, 1024, 60, 60]);
    expect(shape('pretrained.layer4')).toEqual([1, 2048, 60, 60]);
    expect(shape('head.conv5.0')).toEqual([1, 4096, 60, 60]);
  });
  it('dilations of the dilated backbone: layer3 1 then 2, layer4 2 then 4', () => {
    const g = build('enc_dilated_r50', {}, 64);
    const dil = (name: string) => g.nodes.find((n) => n.name === name)!.attrs.dilation;
    expect([
      dil('pretrained.layer3.0.conv2'),
      dil('pretrained.layer3.1.conv2'),
      dil('pretrained.layer3.5.conv2'),
    ]).toEqual([1, 2, 2]);
    expect([
      dil('pretrained.layer4.0.conv2'),
      dil('pretrained.layer4.1.conv2'),
      dil('pretrained.layer4.2.conv2'),
    ]).toEqual([2, 4, 4]);
  });
  it('batch and non-square sizes', () => {
    const g = build('enc_jpu_r50', {}, 512);
    expect(g.nodes[g.outputs[0]!.node]!.shape).toEqual([1, 59, 512, 512]);
    const r = buildGraph(join(SPECS, 'aspp_jpu_r50.fcn'), { batch: 4, height: 480, width: 640 });
    expect(r.graph!.nodes[r.graph!.outputs[0]!.node]!.shape).toEqual([4, 59, 480, 640]);
  });
  it('any size PyTorch accepts: odd sizes elaborate, strided layers round as PyTorch does', () => {
    const variants = readdirSync(SPECS)
      .filter((f) => f.endsWith('.fcn'))
      .map((f) => f.slice(0, -4));
    expect(variants.length).toBe(18);
    for (const [h, w] of [
      [100, 132],
      [67, 93],
      [97, 97],
    ] as const)
      for (const v of variants) {
        const r = buildGraph(join(SPECS, `${v}.fcn`), {
          height: h,
          width: w,
          settings: { width: v.startsWith('enc_jpux') ? 8 : 4, classes: 5 },
        });
        expect(r.diagnostics, `${v} at ${h}×${w}`).toEqual([]);
        expect(verifyGraph(r.graph!)).toEqual([]);
        const logits = r.graph!.outputs.find((o) => o.name === 'logits')!;
        expect(r.graph!.nodes[logits.node]!.shape).toEqual([1, 5, h, w]);
        expect(r.graph!.inputs[0]!.stride).toBe(v.includes('dilated') ? 8 : 32);
      }
    // ⌊(n + 2·1 − 3) / 2⌋ + 1 at every stride-2 layer: 67 → 34 → 17 → 9 → 5 → 3 and 93 → 47 → 24 → 12 → 6 → 3.
    const g = build('enc_jpu_r50', { width: 4 }, [67, 93]);
    const shape = (name: string) => g.nodes[g.names.find((n) => n.name === name)!.node]!.shape.slice(2);
    expect(
      ['pretrained.conv1', 'pretrained.layer1', 'pretrained.layer2', 'pretrained.layer3'].map(shape),
    ).toEqual([
      [34, 47],
      [17, 24],
      [9, 12],
      [5, 6],
    ]);
    expect(shape('pretrained.layer4')).toEqual([3, 3]);
    expect(shape('jpu')).toEqual([9, 12]); // the JPU resizes to c2's size
    const d = build('psp_dilated_r50', { width: 4 }, [67, 93]);
    expect(d.nodes[d.names.find((n) => n.name === 'pretrained.layer4')!.node]!.shape.slice(2)).toEqual([
      9, 12,
    ]);
  });
  it('narrow versions keep structure and names', () => {
    const g = build('enc_jpu_r50', { width: 4, classes: 5 }, 64);
    const full = build('enc_jpu_r50');
    expect(g.params.map((p) => p.name)).toEqual(full.params.map((p) => p.name));
    expect(g.nodes.map((n) => n.op)).toEqual(full.nodes.map((n) => n.op));
  });
});

describe('losses', () => {
  it('EncNet: CE + 0.2 aux CE + 0.2 SE-BCE; PSP/ASPP: aux 0.4', () => {
    const enc = build('enc_jpu_r50');
    expect(enc.losses.map((l) => [l.kind, l.weight, l.output, l.attrs])).toEqual([
      ['ce', 1, 'logits', { ignore: -1 }],
      ['ce', 0.2, 'aux', { ignore: -1 }],
      ['se_bce', 0.2, 'se', {}],
    ]);
    const psp = build('psp_jpu_r50');
    expect(psp.losses.map((l) => [l.kind, l.weight, l.output])).toEqual([
      ['ce', 1, 'logits'],
      ['ce', 0.4, 'aux'],
    ]);
  });
});
