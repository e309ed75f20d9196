// Kernel choice by measurement (runtime/tune.ts): the problems of a program, per-problem tuning keys reaching the
// emitters, the cache (a hit times nothing, a changed kernel set or adapter invalidates it, a corrupt file is a
// warning and the defaults, concurrent writers never leave a torn file), the deterministic defaults, and that every
// candidate the tuner may pick is a variant the GPU op tests run. The timer is a fake except in the last suite,
// which times real kernels on the test device when there is one.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildGraph } from '../../compiler/index.ts';
import { compile, compileTraining } from '../../compiler/compile.ts';
import { kernelOptions, tunedValue } from '../../compiler/codegen/limits.ts';
import { conv2dKernel, conv2dPlan, convProblem, rowKernelApplies } from '../../compiler/codegen/wgsl/conv.ts';
import {
  conv2dGradInputKernel,
  conv2dGradWeightKernel,
  convGradProblem,
  type ConvGradOp,
} from '../../compiler/codegen/wgsl/conv_grad.ts';
import type { ConvAttrs } from '../../compiler/ops/conv.ts';
import type { Graph } from '../../compiler/ir/types.ts';
import {
  adapterIdentity,
  cacheDir,
  cacheFile,
  CANDIDATES,
  candidateKernel,
  candidatePlan,
  candidatesFor,
  candidatesOfKind,
  choose,
  DEFAULT_CANDIDATE,
  MIN_GAIN,
  gpuTimer,
  kernelSetChecksum,
  nearestOfClass,
  planWgsl,
  problemClass,
  problemsOf,
  readCache,
  tuneGraph,
  tuningRecord,
  writeCache,
  type AdapterIdentity,
  type Candidate,
  type Problem,
  type Timer,
} from '../../runtime/tune.ts';
import { GPU_TUNING, LLVMPIPE_TUNING, tuningFor } from '../../runtime/tuning.ts';
import { CASES, VARIANTS } from '../gpu/cases.ts';
import { gpuForTests, oneOpGraph } from '../gpu/harness.ts';
import { ROOT } from '../helpers.ts';

const LIMITS = {
  maxComputeWorkgroupsPerDimension: 65535,
  maxStorageBuffersPerShaderStage: 16,
  maxComputeInvocationsPerWorkgroup: 1024,
  maxComputeWorkgroupStorageSize: 32768,
  maxStorageBufferBindingSize: 134217728,
  maxBufferSize: 2147483648,
};
const ADAPTER: AdapterIdentity = {
  kind: 'software',
  vendor: '',
  architecture: '',
  device: 'llvmpipe-test',
  description: 'a test adapter',
};
const BASE = { 'conv2d.tm': 16, 'conv2d.tn': 8 };
const LLVMPIPE = LLVMPIPE_TUNING;

/** A dense conv's attributes: stride 1, "same" padding, no bias. */
const conv = (channels: number, kernel: number): ConvAttrs => ({
  channels,
  kernel,
  stride: 1,
  padding: kernel >> 1,
  dilation: 1,
  groups: 1,
  bias: false,
});
/** Invocations per workgroup of a conv kernel. */
const wgOf = (wgsl: string) => Number(/const WORKGROUP = (\d+)u;/.exec(wgsl)![1]);

function narrow(size = 64): Graph {
  const r = buildGraph(join(ROOT, 'specs', 'enc_jpu_r50.fcn'), {
    height: size,
    width: size,
    settings: { width: 4, classes: 5 },
  });
  if (!r.graph) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  return compile(r.graph, { limits: LIMITS }).graph;
}

/** A timer that prefers the candidate named `winner` (else the first) and counts the candidates it times. */
function fakeTimer(winner = 'tiled 32×32 k8 4×4'): Timer & { calls: number } {
  const t = async (_p: Problem, cands: readonly Candidate[]) => {
    t.calls += cands.length;
    return cands.map((c) =>
      c.name === winner || c.name === 'depthwise rows 8' ? 1 : 2 + c.name.length / 100,
    );
  };
  t.calls = 0;
  return t;
}

const tmp = () => mkdtempSync(join(tmpdir(), 'fcnc-tune-'));
const quiet = { warn: () => {} };

describe('problems and per-problem keys', () => {
  const g = narrow();
  const problems = problemsOf(g);

  it('finds every conv of the fused program once, keyed as the emitter keys it', () => {
    expect(problems.length).toBeGreaterThan(10);
    expect(new Set(problems.map((p) => p.key)).size).toBe(problems.length);
    let convs = 0;
    for (const n of g.nodes)
      if (n.op === 'conv2d' || (n.op === 'fused' && n.body?.[0]?.op === 'conv2d')) convs++;
    expect(problems.reduce((a, p) => a + p.count, 0)).toBe(convs);
    for (const p of problems) expect(p.key).toBe(convProblem(p.x, p.attrs));
    expect(problems.some((p) => p.attrs.groups > 1 && p.attrs.groups === p.x[1])).toBe(true); // JPU depthwise
    // Largest total work first.
    for (let k = 1; k < problems.length; k++)
      expect(problems[k - 1]!.flops * problems[k - 1]!.count).toBeGreaterThanOrEqual(
        problems[k]!.flops * problems[k]!.count,
      );
  });

  it('a per-problem key wins over the global one, for that problem only', () => {
    const t = { 'conv2d.tm': 16, 'conv2d.tm@conv2d:1x8x5x5-4k1s1p0d1g1': 4 };
    expect(tunedValue(t, 'conv2d.tm', 'conv2d:1x8x5x5-4k1s1p0d1g1')).toBe(4);
    expect(tunedValue(t, 'conv2d.tm', 'conv2d:1x8x5x5-8k1s1p0d1g1')).toBe(16);
    expect(tunedValue(t, 'conv2d.tn', 'conv2d:1x8x5x5-4k1s1p0d1g1')).toBeUndefined();
    expect(tunedValue(undefined, 'conv2d.tm')).toBeUndefined();
  });

  it('compiling with a tuning record changes exactly the kernels of the problems it names', () => {
    const [p0, p1] = problems.filter((p) => p.attrs.groups === 1);
    const tiled = CANDIDATES.conv.find((c) => c.tuning['conv2d.variant'] === 1)!;
    const record = tuningRecord(BASE, {
      [p0!.key]: { name: tiled.name, tuning: tiled.tuning, ms: 1, times: {}, date: '' },
    });
    const plain = compile(g, { limits: LIMITS, tuning: BASE, verify: false }).program;
    const tuned = compile(g, { limits: LIMITS, tuning: record, verify: false }).program;
    const describes = (w: string, p: Problem) => {
      const a = p.attrs;
      return (
        w.includes(
          `conv2d ${a.kernel}×${a.kernel} stride ${a.stride} padding ${a.padding} dilation ${a.dilation} groups ${a.groups}`,
        ) && w.includes(`x [${p.x.join(', ')}] → y [${p.out.join(', ')}]`)
      );
    };
    const kernelOf = (prog: typeof plain, p: Problem) =>
      prog.entries.forward.steps
        .map((s) => prog.kernels.find((k) => k.name === s.kernel)!.wgsl)
        .filter((w) => describes(w, p));
    expect(kernelOf(tuned, p0!).every((w) => w.includes('workgroup-tiled'))).toBe(true);
    expect(kernelOf(tuned, p0!).length).toBeGreaterThan(0);
    expect(kernelOf(plain, p0!).some((w) => w.includes('workgroup-tiled'))).toBe(false);
    // Another problem of another input shape keeps its kernel.
    expect(kernelOf(tuned, p1!).length).toBeGreaterThan(0);
    expect(kernelOf(tuned, p1!)).toEqual(kernelOf(plain, p1!));
    expect(tuned.tuning[`conv2d.variant@${p0!.key}`]).toBe(1);
  });
});

describe('tuning modes and the cache', () => {
  const g = narrow();

  it('off: the base, exactly, whatever the cache holds', async () => {
    const dir = tmp();
    const timer = fakeTimer();
    await tuneGraph(g, {
      mode: 'full',
      adapter: ADAPTER,
      limits: LIMITS,
      base: BASE,
      timer,
      cacheDir: dir,
      ...quiet,
    });
    const r = await tuneGraph(g, {
      mode: 'off',
      adapter: ADAPTER,
      limits: LIMITS,
      base: BASE,
      cacheDir: dir,
    });
    expect(r.tuning).toEqual(BASE);
    expect(r.timed + r.fromCache).toBe(0);
  });

  it('full times every candidate of every problem and writes the cache; cached then times nothing', async () => {
    const dir = tmp();
    const timer = fakeTimer();
    const full = await tuneGraph(g, {
      mode: 'full',
      adapter: ADAPTER,
      limits: LIMITS,
      base: BASE,
      timer,
      cacheDir: dir,
      ...quiet,
    });
    expect(timer.calls).toBe(full.problems.reduce((a, p) => a + candidatesFor(p, LIMITS, BASE).length, 0));
    // The row-vectorised candidates are timed exactly where they apply.
    const rowsTimed = full.problems.filter(
      (p) => rowKernelApplies(p.x, p.attrs) && p.attrs.groups !== p.x[1],
    );
    expect(rowsTimed.length).toBeGreaterThan(0);
    for (const p of full.problems)
      expect(candidatesFor(p, LIMITS, BASE).some((c) => c.name.startsWith('rows '))).toBe(
        rowsTimed.includes(p),
      );
    expect(full.timed).toBe(full.problems.length);
    for (const p of full.problems) {
      const dw = p.attrs.groups > 1 && p.attrs.groups === p.x[1];
      expect(full.choices[p.key]!.name).toBe(dw ? 'depthwise rows 8' : 'tiled 32×32 k8 4×4');
      expect(full.tuning[`${dw ? 'conv2d_dw.variant' : 'conv2d.variant'}@${p.key}`]).toBe(1);
    }
    for (const [k, v] of Object.entries(BASE)) expect(full.tuning[k]).toBe(v);

    const again = fakeTimer();
    const cached = await tuneGraph(g, {
      mode: 'cached',
      adapter: ADAPTER,
      limits: LIMITS,
      base: BASE,
      timer: again,
      cacheDir: dir,
      ...quiet,
    });
    expect(again.calls).toBe(0);
    expect(cached.fromCache).toBe(full.problems.length);
    expect(cached.tuning).toEqual(full.tuning);
    expect(cached.file).toBe(cacheFile(dir, ADAPTER));

    // full re-times, even with a valid cache.
    const third = fakeTimer('register 16×16');
    const re = await tuneGraph(g, {
      mode: 'full',
      adapter: ADAPTER,
      limits: LIMITS,
      base: BASE,
      timer: third,
      cacheDir: dir,
      ...quiet,
    });
    expect(third.calls).toBe(timer.calls);
    const dense = re.problems.find((p) => p.attrs.groups === 1)!;
    expect(re.choices[dense.key]!.name).toBe('register 16×16');
  });

  it('cached: a problem not in the cache takes the choice of the same conv at the nearest other size', async () => {
    const dir = tmp();
    await tuneGraph(g, {
      mode: 'full',
      adapter: ADAPTER,
      limits: LIMITS,
      base: BASE,
      timer: fakeTimer(),
      cacheDir: dir,
      ...quiet,
    });
    const other = await tuneGraph(narrow(96), {
      mode: 'cached',
      adapter: ADAPTER,
      limits: LIMITS,
      base: BASE,
      cacheDir: dir,
    });
    expect(other.fromCache).toBe(0);
    expect(other.summary).toMatch(/; \d+ from the same conv at another size/);
    expect(Object.keys(other.choices).length).toBeGreaterThan(0);
    for (const ch of Object.values(other.choices))
      expect(['tiled 32×32 k8 4×4', 'depthwise rows 8']).toContain(ch.name);
    const e = (name: string) => ({ name, tuning: { 'conv2d.variant': 0 }, ms: 1, times: {}, date: '' });
    const entries = {
      'conv2d:1x64x32x32-64k3s1p1d1g1': e('at 32'),
      'conv2d:1x64x128x128-64k3s1p1d1g1': e('at 128'),
      'conv2d:1x64x64x64-64k3s2p1d1g1': e('stride 2'),
    };
    expect(nearestOfClass('conv2d:1x64x40x40-64k3s1p1d1g1', entries)!.name).toBe('at 32');
    expect(nearestOfClass('conv2d:1x64x100x100-64k3s1p1d1g1', entries)!.name).toBe('at 128');
    expect(nearestOfClass('conv2d:1x64x64x64-64k3s1p1d1g1', entries)!.name).toBe('at 128'); // 4× either way: the larger
    expect(nearestOfClass('conv2d:2x64x20x20-64k3s1p1d1g1', entries)!.name).toBe('at 32'); // batch counts
    expect(nearestOfClass('conv2d:1x64x64x64-32k3s1p1d1g1', entries)).toBeUndefined();
  });

  it('cached with no cache: the defaults, and says so', async () => {
    const r = await tuneGraph(g, {
      mode: 'cached',
      adapter: ADAPTER,
      limits: LIMITS,
      base: BASE,
      cacheDir: tmp(),
    });
    expect(r.tuning).toEqual(BASE);
    expect(r.summary).toMatch(/0 of \d+ conv problems from the cache.*on defaults/);
  });

  it('a changed kernel set or another adapter invalidates the cache', async () => {
    const dir = tmp();
    await tuneGraph(g, {
      mode: 'full',
      adapter: ADAPTER,
      limits: LIMITS,
      base: BASE,
      timer: fakeTimer(),
      cacheDir: dir,
      ...quiet,
    });
    const file = cacheFile(dir, ADAPTER);
    const data = JSON.parse(readFileSync(file, 'utf8'));
    expect(data.checksum).toBe(kernelSetChecksum(BASE));
    expect(Object.keys(data.problems).length).toBeGreaterThan(0);
    writeFileSync(file, JSON.stringify({ ...data, checksum: 'another kernel set' }));
    const warnings: string[] = [];
    const r = await tuneGraph(g, {
      mode: 'cached',
      adapter: ADAPTER,
      limits: LIMITS,
      base: BASE,
      cacheDir: dir,
      warn: (m) => warnings.push(m),
    });
    expect(r.fromCache).toBe(0);
    expect(r.tuning).toEqual(BASE);
    expect(r.summary).toContain('another kernel set');
    expect(warnings).toEqual([]);
    // The same file under another adapter's identity is not used either.
    writeFileSync(file, JSON.stringify(data));
    expect(
      readCache(file, { ...ADAPTER, description: 'another driver' }, data.checksum, () => {}).stale,
    ).toBe(true);
    expect(Object.keys(readCache(file, ADAPTER, data.checksum, () => {}).problems).length).toBeGreaterThan(0);
    // Different adapters have different files.
    expect(cacheFile(dir, { ...ADAPTER, device: 'other' })).not.toBe(file);
  });

  it('a corrupt cache file is ignored with a warning, then rewritten by full', async () => {
    for (const junk of ['{"format": "fcnc-tuning-cache", "problems": {', '[1, 2, 3]', '\u0000\u0001binary']) {
      const dir = tmp();
      const file = cacheFile(dir, ADAPTER);
      writeFileSync(file, junk);
      const warnings: string[] = [];
      const r = await tuneGraph(g, {
        mode: 'cached',
        adapter: ADAPTER,
        limits: LIMITS,
        base: BASE,
        cacheDir: dir,
        warn: (m) => warnings.push(m),
      });
      expect(r.tuning).toEqual(BASE);
      expect(warnings.length).toBe(1);
      expect(warnings[0]).toContain(file);
      await tuneGraph(g, {
        mode: 'full',
        adapter: ADAPTER,
        limits: LIMITS,
        base: BASE,
        timer: fakeTimer(),
        cacheDir: dir,
        warn: () => {},
      });
      const ok = await tuneGraph(g, {
        mode: 'cached',
        adapter: ADAPTER,
        limits: LIMITS,
        base: BASE,
        cacheDir: dir,
      });
      expect(ok.fromCache).toBe(ok.problems.length);
    }
  });

  it('malformed entries are dropped, the rest used', () => {
    const dir = tmp();
    const file = cacheFile(dir, ADAPTER);
    const entry = { name: 'register 8×8', tuning: { 'conv2d.variant': 0 }, ms: 1, times: {}, date: '' };
    writeCache(file, ADAPTER, 'sum', { a: entry });
    const data = JSON.parse(readFileSync(file, 'utf8'));
    data.problems.b = { name: 3 };
    data.problems.c = { ...entry, tuning: { 'conv2d.variant': 'one' } };
    writeFileSync(file, JSON.stringify(data));
    const warnings: string[] = [];
    expect(Object.keys(readCache(file, ADAPTER, 'sum', (m) => warnings.push(m)).problems)).toEqual(['a']);
    expect(warnings[0]).toMatch(/2 malformed entries/);
  });

  it('concurrent writers: readers only ever see a whole file, and it ends valid', async () => {
    const dir = tmp();
    const file = cacheFile(dir, ADAPTER);
    const env = {
      ...process.env,
      TUNE_TEST_ADAPTER: JSON.stringify(ADAPTER),
      TUNE_TEST_CHECKSUM: 'sum',
      FCNC_QUIET_CHILD: '1',
    };
    const writers = ['a', 'b', 'c'].map(
      (prefix) =>
        new Promise<number>((resolve) => {
          const child = spawn(
            process.execPath,
            [
              join(ROOT, 'bin', 'run-ts.js'),
              join(ROOT, 'test', 'runtime', 'tune_writer.script.ts'),
              file,
              prefix,
              '40',
            ],
            { env, stdio: 'ignore' },
          );
          child.on('exit', (code) => resolve(code ?? -1));
        }),
    );
    let done = false;
    let reads = 0;
    const reader = (async () => {
      while (!done) {
        let text: string | undefined;
        try {
          text = readFileSync(file, 'utf8');
        } catch {
          // not written yet
        }
        if (text !== undefined) {
          expect(() => JSON.parse(text)).not.toThrow();
          reads++;
        }
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    const codes = await Promise.all(writers);
    done = true;
    await reader;
    expect(codes).toEqual([0, 0, 0]);
    expect(reads).toBeGreaterThan(0);
    const warnings: string[] = [];
    const final = readCache(file, ADAPTER, 'sum', (m) => warnings.push(m));
    expect(warnings).toEqual([]);
    expect(final.stale).toBe(false);
    expect(Object.keys(final.problems).length).toBeGreaterThan(0);
    // No temporary files are left behind.
    const { readdirSync } = await import('node:fs');
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  }, 600_000); // the child processes compile kernels: minutes with a cold Mesa shader cache

  it('the cache folder: FCNC_CACHE_DIR, else XDG_CACHE_HOME/fcnc, else ~/.cache/fcnc', () => {
    expect(cacheDir({ FCNC_CACHE_DIR: '/x', XDG_CACHE_HOME: '/y' })).toBe('/x');
    expect(cacheDir({ XDG_CACHE_HOME: '/y' })).toBe(join('/y', 'fcnc'));
    expect(cacheDir({})).toMatch(/\.cache[\\/]fcnc$/);
  });
});

describe('gradient kernels: the large tiles from a channel count', () => {
  const a: ConvAttrs = {
    channels: 72,
    kernel: 3,
    stride: 1,
    padding: 1,
    dilation: 1,
    groups: 1,
    bias: false,
  };
  const wgsl = (cin: number, tuning: Record<string, number>): string =>
    JSON.stringify(
      conv2dGradWeightKernel({
        inputs: [
          [1, cin, 6, 8],
          [1, 72, 6, 8],
        ],
        out: [72, cin, 3, 3],
        attrs: a,
        params: [],
        opts: kernelOptions(LIMITS, tuning),
      }),
    );
  it('conv2d_grad_weight.large = 64: 16×32 tiles at 64 channels, 16×8 below, 16×8 without the key', () => {
    expect(wgsl(64, { 'conv2d_grad_weight.large': 64 })).toContain('const TN = 32u;');
    expect(wgsl(40, { 'conv2d_grad_weight.large': 64 })).toContain('const TN = 8u;');
    expect(wgsl(64, {})).toContain('const TN = 8u;');
    expect(wgsl(64, { 'conv2d_grad_weight.large': 64, 'conv2d_grad_weight.tn': 4 })).toContain(
      'const TN = 4u;',
    );
  });
});

describe('forward convs: the large tiles from a channel count (conv2d.large)', () => {
  const kernel = (x: number[], a: ConvAttrs, tuning: Record<string, number>): string => {
    const g = oneOpGraph('conv2d', [x], a);
    return conv2dKernel({
      inputs: [x],
      out: g.nodes.at(-1)!.shape,
      attrs: a,
      params: g.params.map((p) => p.shape),
      opts: kernelOptions(LIMITS, tuning),
    }).wgsl;
  };
  const llvmpipe = {
    'conv2d.variant': 2,
    'conv2d.tm': 16,
    'conv2d.tn': 8,
    'conv2d.large': 64,
    'conv2d.min_workgroups': 4,
  };
  it('row-vectorised 3×3: 32×32 × 2 rows on rows wider than 64, 16×32 × 2 rows on wide rows; at stride 1 8×16 × 4 rows on 16-wide and 8×8 × 8 rows on 8-wide, kernel rows unrolled; strided 16×16 × 4 and 16×8 × 8 rows; small tiles below 64 channels', () => {
    const reuse = /distinct input rows/;
    const wide = kernel([1, 64, 8, 40], conv(64, 3), llvmpipe);
    expect(wide).toMatch(/const TM = 16u;[^]*const TN = 32u;[^]*const RR = 2u;/);
    expect(wide).not.toMatch(reuse);
    expect(kernel([1, 64, 8, 64], conv(64, 3), llvmpipe)).toMatch(/const TM = 16u;[^]*const TN = 32u;/);
    expect(kernel([1, 64, 8, 68], conv(64, 3), llvmpipe)).toMatch(
      /const TM = 32u;[^]*const TN = 32u;[^]*const RR = 2u;/,
    );
    const w16 = kernel([1, 64, 8, 16], conv(64, 3), llvmpipe);
    expect(w16).toMatch(/const TM = 8u;[^]*const TN = 16u;[^]*const RR = 4u;/);
    expect(w16).toMatch(reuse);
    // 4 output rows read 6 distinct input rows over the 3 kernel rows, each loaded once a step.
    expect(w16).toMatch(/The 6 distinct input rows/);
    const w8 = kernel([1, 64, 8, 8], conv(64, 3), llvmpipe);
    expect(w8).toMatch(/const TM = 8u;[^]*const TN = 8u;[^]*const RR = 8u;/);
    expect(w8).toMatch(/The 10 distinct input rows/);
    // Strided: 16 channels a tile, one loop step per kernel row.
    const s2 = { ...conv(64, 3), stride: 2, padding: 1 };
    const strided16 = kernel([1, 64, 32, 32], s2, llvmpipe);
    expect(strided16).toMatch(/const TM = 16u;[^]*const TN = 16u;[^]*const RR = 4u;/);
    expect(strided16).not.toMatch(reuse);
    expect(kernel([1, 64, 16, 16], s2, llvmpipe)).toMatch(
      /const TM = 16u;[^]*const TN = 8u;[^]*const RR = 8u;/,
    );
    // Below 64 channels: one row per invocation.
    const narrowIn = kernel([1, 32, 8, 40], conv(64, 3), llvmpipe);
    expect(narrowIn).toMatch(/const TM = 11u;[^]*const TN = 32u;/); // 12 balanced
    expect(narrowIn).not.toMatch(/const RR/);
    expect(kernel([1, 64, 8, 40], conv(48, 3), llvmpipe)).toMatch(/const TM = 12u;[^]*const TN = 32u;/);
    // An image's few input channels (the deep stem's first conv) count as wide; 4 or more do not.
    const stem = { ...conv(64, 3), stride: 2, padding: 1 };
    // (128 wide at 256²: rows wider than 64 take 32 × 32 × 2 rows; 64 wide at 128²: 16 × 32 × 2 rows.)
    expect(kernel([1, 3, 256, 256], stem, llvmpipe)).toMatch(
      /const TM = 32u;[^]*const TN = 32u;[^]*const RR = 2u;/,
    );
    expect(kernel([1, 3, 128, 128], stem, llvmpipe)).toMatch(
      /const TM = 16u;[^]*const TN = 32u;[^]*const RR = 2u;/,
    );
    expect(kernel([1, 1, 256, 256], stem, llvmpipe)).toMatch(/const RR = 2u;/);
    expect(kernel([1, 4, 256, 256], stem, llvmpipe)).not.toMatch(/const RR/);
    expect(kernel([1, 3, 256, 256], { ...stem, channels: 32 }, llvmpipe)).not.toMatch(/const RR/);
    // A key for the problem wins over the large default.
    const own = { ...llvmpipe, 'conv2d.row_rows@conv2d:1x64x8x40-64k3s1p1d1g1': 3 };
    expect(kernel([1, 64, 8, 40], conv(64, 3), own)).toMatch(/const RR = 3u;/);
  });
  it('conv2d.min_workgroups: workgroups halved (not below 8 invocations) until the dispatch has that many', () => {
    // 4 channel tiles × 4 row groups × 2 row tiles = 32 work items: the smallest workgroup, 4 of them.
    expect(wgOf(kernel([1, 64, 8, 40], conv(64, 3), llvmpipe))).toBe(8);
    // 4 × 16 × 1 = 64 work items: 4 workgroups of 16.
    const mid = kernel([1, 64, 32, 32], conv(64, 3), llvmpipe);
    expect(wgOf(mid)).toBe(16);
    expect(mid).toMatch(/const TOTAL = 64u;/);
    // 4 × 32 × 2 = 256: 4 workgroups of 64.
    expect(wgOf(kernel([1, 64, 64, 64], conv(64, 3), llvmpipe))).toBe(64);
    // Enough work for 64: unchanged; without the key: 64 always.
    expect(wgOf(kernel([1, 64, 32, 32], conv(512, 1), llvmpipe))).toBe(64);
    const { 'conv2d.min_workgroups': _, ...noMin } = llvmpipe;
    expect(wgOf(kernel([1, 64, 8, 40], conv(64, 3), noMin))).toBe(64);
    // conv2d.wg (here for the problem) wins.
    const own = { ...llvmpipe, 'conv2d.wg@conv2d:1x64x8x40-64k3s1p1d1g1': 16 };
    expect(wgOf(kernel([1, 64, 8, 40], conv(64, 3), own))).toBe(16);
  });
  it('register-blocked 1×1 (strided too): 32×32 or 16×16 at 64 channels, the global 16×8 below and on other strided convs; a key for the problem wins', () => {
    expect(kernel([1, 64, 8, 8], conv(64, 1), llvmpipe)).toMatch(/const TM = 16u;[^]*const TN = 16u;/);
    // 32×32 where that still makes at least 4 workgroups of tiles: of 64 invocations (16 × 32 tiles here) ...
    expect(kernel([1, 64, 32, 32], conv(512, 1), llvmpipe)).toMatch(/const TM = 32u;[^]*const TN = 32u;/);
    // ... or, with conv2d.min_workgroups, of the smallest workgroups (16 × 8 tiles: 4 workgroups of 32).
    const mid = kernel([1, 64, 16, 16], conv(512, 1), llvmpipe);
    expect(mid).toMatch(/const TM = 32u;[^]*const TN = 32u;/);
    expect(wgOf(mid)).toBe(32);
    const { 'conv2d.min_workgroups': _, ...noMin } = llvmpipe;
    expect(kernel([1, 64, 16, 16], conv(512, 1), noMin)).toMatch(/const TM = 16u;[^]*const TN = 16u;/);
    expect(kernel([1, 48, 8, 8], conv(64, 1), llvmpipe)).toMatch(/const TM = 16u;[^]*const TN = 8u;/);
    // conv2d.gemm_order 1: per step the pixel vec4s, then each output channel's weight vec4 right before its
    // accumulators; 0 (the default without the key): every weight vec4 first.
    const byChannel = kernel([1, 64, 32, 32], conv(512, 1), { ...llvmpipe, 'conv2d.gemm_order': 1 });
    expect(byChannel).toMatch(
      /let x3_7 = [^\n]*\n\s*let wv0 = wt\[w0 \+ c4\];[^\n]*\n\s*acc0\[0\] \+= wv0\.x \* x0_0/,
    );
    expect(byChannel).toMatch(/acc0\[7\] \+= [^\n]*\n\s*let wv1 = wt\[w1 \+ c4\];/);
    const weightsFirst = kernel([1, 64, 32, 32], conv(512, 1), llvmpipe);
    expect(weightsFirst).toMatch(/let wv31 = wt\[w31 \+ c4\];[^\n]*\n\s*let x0_0 = /);
    expect(weightsFirst).not.toEqual(byChannel);
    // Strided 1×1 (downsampling): the large tiles too, by the same rule.
    const strided = { ...conv(64, 1), stride: 2 };
    expect(kernel([1, 64, 8, 8], strided, llvmpipe)).toMatch(/const TM = 16u;[^]*const TN = 16u;/);
    expect(kernel([1, 512, 32, 32], { ...conv(1024, 1), stride: 2 }, llvmpipe)).toMatch(
      /const TM = 32u;[^]*const TN = 32u;/,
    );
    // Other strided register-blocked convs (rows of 63: not row-vectorised) keep the global tiles.
    const stem = { ...conv(64, 3), stride: 2, padding: 1 };
    expect(kernel([1, 3, 63, 63], stem, { ...llvmpipe, 'conv2d.large': 1 })).toMatch(
      /const TM = 16u;[^]*const TN = 8u;/,
    );
    // With rows a multiple of 4 the row kernel takes even 3 input channels, one channel a step.
    expect(kernel([1, 3, 64, 64], stem, llvmpipe)).toContain('// one input channel a step');
    const own = { ...llvmpipe, 'conv2d.tn@conv2d:1x64x8x8-64k1s1p0d1g1': 4 };
    expect(kernel([1, 64, 8, 8], conv(64, 1), own)).toMatch(/const TM = 16u;[^]*const TN = 4u;/);
  });
});

describe('defaults and candidates', () => {
  it('the default is deterministic: the fixed table per adapter, and compiling twice gives the same program', () => {
    const info = (device: string, description = '') =>
      ({ vendor: '', architecture: '', device, description }) as GPUAdapterInfo;
    expect(tuningFor({ adapterInfo: info('llvmpipe-llvm-15'), kind: 'software' })).toEqual({
      'conv2d.variant': 2,
      'conv2d.tm': 16,
      'conv2d.tn': 8,
      'conv2d.large': 64,
      'conv2d.min_workgroups': 4,
      'conv2d.sub': 1,
      'conv2d.gemm_order': 1,
      'conv2d_grad_input.large': 64,
      'conv2d_grad_input.variant': 2,
      'conv2d_grad_weight.large': 64,
      'conv2d_dw.variant': 1,
      'conv2d_dw.tn': 32,
      'conv2d.winograd_wide': 128,
    });
    expect(tuningFor({ adapterInfo: info('SwiftShader'), kind: 'software' })).toEqual({});
    expect(tuningFor({ adapterInfo: info('NVIDIA H200'), kind: 'gpu' })['conv2d.variant']).toBe(1);
    // A GPU not in the table: the tiled kernels for the convs and both their gradients.
    expect(tuningFor({ adapterInfo: info('NVIDIA H200'), kind: 'gpu' })).toBe(GPU_TUNING);
    for (const op of ['conv2d', 'conv2d_grad_input', 'conv2d_grad_weight'])
      expect([GPU_TUNING[`${op}.variant`], GPU_TUNING[`${op}.wg_bm`], GPU_TUNING[`${op}.wg_bn`]]).toEqual([
        1, 32, 32,
      ]);
    const g = narrow(32);
    const a = compile(g, { limits: LIMITS, tuning: BASE, verify: false }).program;
    const b = compile(g, { limits: LIMITS, tuning: BASE, verify: false }).program;
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    expect(adapterIdentity({ adapterInfo: info('d', 'desc'), kind: 'gpu' })).toEqual({
      kind: 'gpu',
      vendor: '',
      architecture: '',
      device: 'd',
      description: 'desc',
    });
  });

  it('the kernel-set checksum is stable and covers the candidates and the defaults under them', () => {
    expect(kernelSetChecksum()).toMatch(/^[0-9a-f]{32}$/);
    expect(kernelSetChecksum()).toBe(kernelSetChecksum());
    expect(kernelSetChecksum(BASE)).toBe(kernelSetChecksum({ ...BASE }));
    expect(kernelSetChecksum(BASE)).not.toBe(kernelSetChecksum());
    expect(kernelSetChecksum(LLVMPIPE)).not.toBe(kernelSetChecksum(BASE));
  });

  it('candidates: the defaults first, then each other kernel once, generated on top of the defaults', () => {
    const g = narrow();
    const problems = problemsOf(g);
    for (const base of [{}, BASE, LLVMPIPE]) {
      for (const p of problems) {
        const cands = candidatesFor(p, LIMITS, base);
        expect(cands[0]).toBe(DEFAULT_CANDIDATE);
        const texts = cands.map((c) => planWgsl(candidatePlan(p, c, LIMITS, base)));
        expect(new Set(texts).size).toBe(texts.length);
        // The default candidate's kernel is what the program compiled with the base alone runs.
        expect(texts[0]).toBe(planWgsl(candidatePlan(p, { name: 'x', tuning: {} }, LIMITS, base)));
      }
    }
    // Under BASE (register 16×8), "register 16×8" is the default kernel of a dense conv: timed once, as the default.
    const dense = problems.find((p) => p.attrs.groups === 1 && p.attrs.kernel === 3)!;
    const names = candidatesFor(dense, LIMITS, BASE).map((c) => c.name);
    expect(names).not.toContain('register 16×8');
    expect(names).toContain('register 16×16');
    expect(candidatesFor(dense, LIMITS, {}).map((c) => c.name)).toContain('register 16×8');
    // The base reaches every candidate: llvmpipe's workgroup sizing shrinks the workgroups of a small problem.
    const small = problems.find((p) => p.attrs.groups === 1 && p.attrs.kernel === 1)!;
    const rb = CANDIDATES.conv.find((c) => c.name === 'register 32×32')!;
    expect(wgOf(candidateKernel(small, rb, LIMITS, {}).wgsl)).toBe(64);
    expect(wgOf(candidateKernel(small, rb, LIMITS, LLVMPIPE).wgsl)).toBeLessThan(64);
  });

  it('a candidate is the kernel it is named after, also where the defaults under it have other tiles', () => {
    // A wide layer llvmpipe's defaults give large tiles (16×32 × 2 rows): a candidate's own tiles and rows win.
    const p = problemsOf(oneOpGraph('conv2d', [[1, 128, 32, 32]], conv(128, 3)))[0]!;
    const header = (c: Candidate) =>
      candidateKernel(p, c, LIMITS, LLVMPIPE)
        .wgsl.split('\n')
        .find((l) => l.includes('each invocation'))!;
    expect(header(DEFAULT_CANDIDATE)).toContain('16 output channels × 32 pixels of 2 rows');
    let checked = 0;
    for (const c of CANDIDATES.conv) {
      const t = c.tuning;
      if (t['conv2d.variant'] === 2) {
        const n = t['conv2d.row_rows']!;
        expect(header(c)).toContain(
          `${t['conv2d.row_tm']} output channels × ${t['conv2d.row_tn']} pixels of ${n === 1 ? 'one row' : `${n} rows`}`,
        );
        checked++;
      } else if (t['conv2d.variant'] === 0) {
        expect(header(c)).toContain(`${t['conv2d.tm']} output channels × ${t['conv2d.tn']} pixels`);
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(10);
    // Winograd's candidates: the four passes of F(m×m, 3×3), the GEMMs with llvmpipe's large tiles.
    for (const m of [2, 4]) {
      const plan = candidatePlan(
        p,
        CANDIDATES.conv.find((c) => c.name === `Winograd F(${m}×${m}, 3×3)`)!,
        LIMITS,
        LLVMPIPE,
      );
      expect(plan.dispatches.map((d) => d.name!.replace(/_[kc]\d+.*$/, ''))).toEqual(
        ['weights', 'input', 'gemm', 'output'].map((k) => `conv2d_winograd${m}_${k}`),
      );
      expect(plan.dispatches[2]!.wgsl).toContain('32 output channels × 32 pixels');
      const xi = (m + 2) ** 2;
      const tiles = (32 / m) ** 2;
      expect(plan.scratch).toEqual([xi * 128 * 128, xi * 128 * tiles, xi * 128 * tiles]);
    }
  });

  it('choose: the fastest, unless the defaults are within MIN_GAIN of it', () => {
    const [a, b] = CANDIDATES.conv;
    const cands = [DEFAULT_CANDIDATE, a!, b!];
    expect(choose(cands, [10, 9.8, 11])![0]).toBe(DEFAULT_CANDIDATE); // 2 % faster: noise
    expect(choose(cands, [10, 10 * (1 - MIN_GAIN) + 1e-9, 11])![0]).toBe(DEFAULT_CANDIDATE);
    expect(choose(cands, [10, 9, 11])).toEqual([a, 9]); // 10 % faster
    expect(choose(cands, [10, 12, 11])).toEqual([DEFAULT_CANDIDATE, 10]);
    expect(choose(cands, [Infinity, 12, 11])).toEqual([b, 11]); // the defaults failed to compile
    expect(choose(cands, [Infinity, Infinity, Infinity])).toBeUndefined();
    expect(choose([a!, b!], [3, 2])).toEqual([b, 2]); // no default among them: the fastest
  });

  it('full keeps the defaults where no candidate is clearly faster', async () => {
    const g = narrow();
    const t = async (_p: Problem, cands: readonly Candidate[]) =>
      cands.map((c) => (c === DEFAULT_CANDIDATE ? 1 : c.name === 'register 32×16' ? 0.99 : 1.5));
    const r = await tuneGraph(g, {
      mode: 'full',
      adapter: ADAPTER,
      limits: LIMITS,
      base: BASE,
      timer: t,
      cacheDir: tmp(),
      ...quiet,
    });
    expect(r.timed).toBe(r.problems.length);
    for (const p of r.problems) expect(r.choices[p.key]!.name).toBe('adapter default');
    // A default choice adds no per-problem keys: the program is the untuned one.
    expect(r.tuning).toEqual(BASE);
  });

  it('every candidate the tuner may pick is a kernel the GPU op tests run', () => {
    // The tunings the op tests run conv2d under: none (the emitter's defaults), each case's own, each variant's.
    const tested = [
      undefined,
      ...(CASES.conv2d ?? []).flatMap((c) => (c.tuning ? [c.tuning] : [])),
      ...(VARIANTS.conv2d ?? []).map((v) => v.tuning),
    ];
    const probe = (a: ConvAttrs, x: number[]) => {
      const g = oneOpGraph('conv2d', [x], a);
      const node = g.nodes.at(-1)!;
      const p = problemsOf(g)[0]!;
      const tested = (tuning?: Readonly<Record<string, number>>) => {
        const made = conv2dPlan({
          inputs: [x],
          out: node.shape,
          attrs: a,
          params: g.params.map((q) => q.shape),
          opts: kernelOptions(LIMITS, tuning),
        });
        return planWgsl('wgsl' in made ? { scratch: [], dispatches: [made] } : made);
      };
      // What the tuner times and the program runs: the candidate's keys for this problem on top of the base.
      const timed = (c: Candidate, base: Readonly<Record<string, number>>) =>
        planWgsl(candidatePlan(p, c, LIMITS, base));
      return { tested, timed };
    };
    const base = { stride: 1, padding: 1, dilation: 1, bias: false };
    const dense = probe({ ...base, channels: 20, kernel: 3, groups: 1 }, [1, 12, 9, 9]);
    // Rows a multiple of 4 wide: where the row-vectorised candidates generate their own kernel.
    const rowsWide = probe({ ...base, channels: 20, kernel: 3, groups: 1 }, [1, 12, 8, 12]);
    const gemm = probe({ ...base, padding: 0, channels: 20, kernel: 1, groups: 1 }, [1, 16, 8, 8]);
    const dw = probe({ ...base, channels: 12, kernel: 3, groups: 12 }, [1, 12, 9, 9]);
    // A map Winograd F(2×2) and F(4×4) tile: where its candidates generate their own plans.
    const tiled = probe({ ...base, channels: 12, kernel: 3, groups: 1, bias: true }, [2, 8, 8, 16]);
    // Candidates are generated on top of the adapter's defaults: none (the emitters'), and llvmpipe's.
    for (const b of [{}, LLVMPIPE])
      for (const [kind, list] of [
        [dense, CANDIDATES.conv],
        [rowsWide, CANDIDATES.conv],
        [gemm, CANDIDATES.conv],
        [dw, CANDIDATES.depthwise],
        [tiled, CANDIDATES.conv],
      ] as const)
        for (const c of [DEFAULT_CANDIDATE, ...list]) {
          const want = kind.timed(c, b);
          expect(
            tested.some((t) => kind.tested(t) === want),
            `candidate ${c.name} on ${JSON.stringify(b)} is not among the tested conv2d variants`,
          ).toBe(true);
        }
  });
});

describe("a training step's gradient kernels", () => {
  // A narrow network's training step at batch 2: every conv's forward, and its input and weight gradients.
  const r = buildGraph(join(ROOT, 'specs', 'enc_jpu_r50.fcn'), {
    height: 64,
    width: 64,
    batch: 2,
    settings: { width: 8, classes: 5 },
  });
  if (!r.graph) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  const train = compileTraining(r.graph, { limits: LIMITS, tuning: LLVMPIPE, dropout: true, verify: false });
  const g = train.graph;
  const problems = problemsOf(g);
  const grads = problems.filter((p) => p.op !== 'conv2d');

  it('finds each conv gradient of the step once, keyed by the op and the conv it differentiates', () => {
    for (const op of ['conv2d_grad_input', 'conv2d_grad_weight'] as const) {
      let nodes = 0;
      for (const n of g.nodes) if (n.op === op || (n.op === 'fused' && n.body?.[0]?.op === op)) nodes++;
      expect(nodes).toBeGreaterThan(50);
      const mine = grads.filter((p) => p.op === op);
      expect(mine.reduce((a, p) => a + p.count, 0)).toBe(nodes);
      for (const p of mine) {
        expect(p.key).toBe(convGradProblem(op, p.x, p.attrs));
        expect(p.key.startsWith(`${op}:${p.x.join('x')}-`)).toBe(true);
        // The forward conv's shapes: dy has the conv's output shape, the weight is OIHW.
        expect(p.out[1]).toBe(p.attrs.channels);
        expect(p.params[0]).toEqual([
          p.attrs.channels,
          p.x[1]! / p.attrs.groups,
          p.attrs.kernel,
          p.attrs.kernel,
        ]);
      }
    }
    // The same conv's forward and gradients are three problems; keys never collide, classes neither.
    expect(new Set(problems.map((p) => p.key)).size).toBe(problems.length);
    const fwd = problems.find((p) => p.op === 'conv2d' && p.attrs.kernel === 3 && p.attrs.groups === 1)!;
    const gi = convGradProblem('conv2d_grad_input', fwd.x, fwd.attrs);
    expect(problems.map((p) => p.key)).toContain(gi);
    expect(problemClass(gi)!.cls).toBe(
      `conv2d_grad_input:${fwd.x[1]}-${fwd.key.split('-').slice(1).join('-')}`,
    );
    expect(problemClass(gi)!.cls).not.toBe(problemClass(fwd.key)!.cls);
    expect(problemClass(gi)!.pixels).toBe(problemClass(fwd.key)!.pixels);
  });

  it('depthwise gradients have one kernel each and are not candidates for timing', () => {
    const dw = grads.filter((p) => p.attrs.groups > 1 && p.attrs.groups === p.x[1]);
    expect(dw.length).toBeGreaterThan(0); // the JPU's separable convs
    for (const p of dw) expect(candidatesOfKind(p)).toEqual([]);
    for (const p of grads.filter((q) => !dw.includes(q)))
      expect(candidatesOfKind(p)).toBe(
        p.op === 'conv2d_grad_input' ? CANDIDATES.gradInput : CANDIDATES.gradWeight,
      );
  });

  it('a gradient candidate is the kernel it is named after, on top of the defaults', () => {
    // 64 channels in and out: llvmpipe's defaults give these the large tiles (the input gradient as rows 8×16 × 4
    // rows on 16-wide rows, the kernel rows unrolled; the weight gradient 16×32); a candidate's own tiles, variant
    // and unrolling win.
    const x = [2, 64, 16, 16];
    const a = { ...conv(64, 3) };
    const tiles = (w: string) =>
      w.includes('workgroup-tiled')
        ? [Number(/const BM = (\d+)u/.exec(w)![1]), Number(/const BN = (\d+)u/.exec(w)![1]), 1, 'tiled']
        : [
            Number(/const TM = (\d+)u/.exec(w)![1]),
            Number(/const TN = (\d+)u/.exec(w)![1]),
            Number(/const RR = (\d+)u/.exec(w)?.[1] ?? 1),
            w.includes('conv2d_grad_input as the conv of dy') ? 'rows' : 'register',
          ];
    for (const [op, list, dflt] of [
      ['conv2d_grad_input', CANDIDATES.gradInput, [8, 16, 4, 'rows']],
      ['conv2d_grad_weight', CANDIDATES.gradWeight, [16, 32, 1, 'register']],
    ] as const) {
      const p: Problem = {
        key: convGradProblem(op, x, a),
        op,
        x,
        attrs: a,
        out: [2, 64, 16, 16],
        params: [[64, 64, 3, 3]],
        flops: 1,
        count: 1,
      };
      const unrolled = (w: string) => w.includes('distinct input rows');
      const dfltWgsl = planWgsl(candidatePlan(p, DEFAULT_CANDIDATE, LIMITS, LLVMPIPE));
      expect(tiles(dfltWgsl)).toEqual(dflt);
      expect(unrolled(dfltWgsl)).toBe(op === 'conv2d_grad_input');
      for (const c of list) {
        const t = c.tuning;
        const v = t[`${op}.variant`];
        if (v === 2)
          expect(unrolled(planWgsl(candidatePlan(p, c, LIMITS, LLVMPIPE))), c.name).toBe(
            t[`${op}.row_reuse`] === 1,
          );
        expect(tiles(planWgsl(candidatePlan(p, c, LIMITS, LLVMPIPE))), c.name).toEqual(
          v === 2
            ? [t[`${op}.row_tm`], t[`${op}.row_tn`], t[`${op}.row_rows`], 'rows']
            : v === 1
              ? [t[`${op}.wg_bm`], t[`${op}.wg_bn`], 1, 'tiled']
              : [t[`${op}.tm`], t[`${op}.tn`], 1, 'register'],
        );
      }
      // Timed once each: no two candidates generate the same kernels.
      const texts = candidatesFor(p, LIMITS, LLVMPIPE).map((c) =>
        planWgsl(candidatePlan(p, c, LIMITS, LLVMPIPE)),
      );
      expect(new Set(texts).size).toBe(texts.length);
      expect(texts.length).toBe(list.length); // the default is one of the candidates
    }
    // Where the row kernel does not apply (stride 2), its candidates are not timed …
    const s2 = { ...a, stride: 2 };
    const p2: Problem = {
      key: convGradProblem('conv2d_grad_input', x, s2),
      op: 'conv2d_grad_input',
      x,
      attrs: s2,
      out: [2, 64, 8, 8],
      params: [[64, 64, 3, 3]],
      flops: 1,
      count: 1,
    };
    const names = candidatesFor(p2, LIMITS, LLVMPIPE).map((c) => c.name);
    // … nor the workgroup-tiled ones (stride 1, groups 1 only).
    expect(names.some((n) => n.startsWith('rows') || n.startsWith('tiled'))).toBe(false);
    expect(names.length).toBeGreaterThan(3);
  });

  it("a per-problem gradient key changes exactly that problem's kernels in the training program", () => {
    const p = grads.find(
      (q) => q.op === 'conv2d_grad_weight' && q.attrs.groups === 1 && q.attrs.kernel === 3,
    )!;
    const record = tuningRecord(LLVMPIPE, {
      [p.key]: {
        name: 'x',
        tuning: { 'conv2d_grad_weight.tm': 4, 'conv2d_grad_weight.tn': 4 },
        ms: 1,
        times: {},
        date: '',
      },
    });
    const tuned = compileTraining(r.graph!, { limits: LIMITS, tuning: record, dropout: true, verify: false });
    const texts = (prog: typeof tuned.program) =>
      prog.entries
        .train_step!.steps.filter((st) => st.kernel) // not the copies
        .map((st) => prog.kernels.find((k) => k.name === st.kernel)!.wgsl);
    const before = texts(train.program);
    const after = texts(tuned.program);
    expect(after.length).toBe(before.length);
    const changed = after.filter((w, k) => w !== before[k]);
    // Each node of the problem: its pass 1 (and pass 2 when its K split changed with the tiles).
    expect(changed.length).toBeGreaterThanOrEqual(p.count);
    const header = `conv2d_grad_weight, conv ${p.attrs.kernel}×${p.attrs.kernel} stride ${p.attrs.stride} padding ${p.attrs.padding} dilation ${p.attrs.dilation} groups ${p.attrs.groups}: x [${p.x.join(', ')}]`;
    for (const w of changed) expect(w).toContain(header);
    for (const w of changed.filter((w) => w.includes('const TM')))
      expect(w).toMatch(/const TM = 4u[^]*const TN = 4u/);
    expect(tuned.program.tuning[`conv2d_grad_weight.tm@${p.key}`]).toBe(4);
  });

  it('tune full times the gradient problems with their candidates; cached reuses them', async () => {
    const dir = tmp();
    const timer = fakeTimer('register 8×8');
    const full = await tuneGraph(g, {
      mode: 'full',
      adapter: ADAPTER,
      limits: LIMITS,
      base: LLVMPIPE,
      timer,
      cacheDir: dir,
      ...quiet,
    });
    const tunedGrads = full.problems.filter((p) => p.op !== 'conv2d');
    expect(tunedGrads.length).toBeGreaterThan(10);
    expect(tunedGrads.every((p) => candidatesOfKind(p).length > 0)).toBe(true); // no depthwise gradient
    let picked = 0;
    for (const p of tunedGrads) {
      // The fake timer's winner, unless it generates the default's kernel on this problem (then timed as that).
      const offered = candidatesFor(p, LIMITS, LLVMPIPE).some((c) => c.name === 'register 8×8');
      expect(full.choices[p.key]!.name).toBe(offered ? 'register 8×8' : 'adapter default');
      if (offered) {
        expect(full.tuning[`${p.op as ConvGradOp}.tm@${p.key}`]).toBe(8);
        picked++;
      }
    }
    expect(picked).toBeGreaterThan(5);
    expect(timer.calls).toBe(
      full.problems.reduce((a, p) => a + candidatesFor(p, LIMITS, LLVMPIPE).length, 0),
    );
    const again = fakeTimer();
    const cached = await tuneGraph(g, {
      mode: 'cached',
      adapter: ADAPTER,
      limits: LIMITS,
      base: LLVMPIPE,
      cacheDir: dir,
      timer: again,
      ...quiet,
    });
    expect(again.calls).toBe(0);
    expect(cached.tuning).toEqual(full.tuning);
  });

  it('every gradient candidate the tuner may pick is a kernel the GPU op tests run', () => {
    const base = { stride: 1, padding: 1, dilation: 1, bias: false };
    for (const [op, list] of [
      ['conv2d_grad_input', CANDIDATES.gradInput],
      ['conv2d_grad_weight', CANDIDATES.gradWeight],
    ] as const) {
      // The tunings the op tests run the gradient under: none, each case's own, each variant's.
      const tested = [
        undefined,
        ...(CASES[op] ?? []).flatMap((c) => (c.tuning ? [c.tuning] : [])),
        ...(VARIANTS[op] ?? []).map((v) => v.tuning),
      ];
      for (const [x, a] of [
        [[2, 8, 9, 7], { ...base, channels: 12, kernel: 3, stride: 2, groups: 1 }],
        [[2, 16, 8, 8], { ...base, padding: 0, channels: 20, kernel: 1, groups: 1 }],
        [[1, 8, 8, 12], { ...base, channels: 12, kernel: 3, stride: 1, groups: 1 }], // rows apply
      ] as const) {
        const xs = [...x];
        const out = [x[0], a.channels, Math.floor((x[2] + 2 * a.padding - 3) / a.stride) + 1, 0];
        out[2] = a.kernel === 1 ? x[2] : out[2]!;
        out[3] = a.kernel === 1 ? x[3] : Math.floor((x[3] + 2 * a.padding - 3) / a.stride) + 1;
        const p: Problem = {
          key: convGradProblem(op, xs, a),
          op,
          x: xs,
          attrs: a,
          out,
          params: [[a.channels, x[1], a.kernel, a.kernel]],
          flops: 1,
          count: 1,
        };
        const kernelUnder = (tuning?: Readonly<Record<string, number>>) => {
          const opts = kernelOptions(LIMITS, tuning);
          const made =
            op === 'conv2d_grad_input'
              ? conv2dGradInputKernel({
                  inputs: [out],
                  out: xs,
                  params: [p.params[0]!],
                  attrs: { ...a, in_c: x[1], in_h: x[2], in_w: x[3] },
                  opts,
                })
              : conv2dGradWeightKernel({ inputs: [xs, out], out: p.params[0]!, params: [], attrs: a, opts });
          return planWgsl('wgsl' in made ? { scratch: [], dispatches: [made] } : made);
        };
        const testedTexts = new Set(tested.map(kernelUnder));
        for (const c of [DEFAULT_CANDIDATE, ...list])
          expect(
            testedTexts.has(planWgsl(candidatePlan(p, c, LIMITS, LLVMPIPE))),
            `${op} candidate ${c.name} on llvmpipe's defaults is not among the tested variants`,
          ).toBe(true);
      }
    }
  });
});

const { dev, reason } = await gpuForTests();
describe.skipIf(!dev)(`tuning on the device (${dev?.description ?? reason})`, () => {
  it('times real candidates, picks the fastest, and compiles with the choice', async () => {
    const a: ConvAttrs = {
      channels: 24,
      kernel: 3,
      stride: 1,
      padding: 1,
      dilation: 1,
      groups: 1,
      bias: true,
    };
    const g = oneOpGraph('conv2d', [[1, 16, 24, 24]], a);
    const p = problemsOf(g)[0]!;
    const timer = gpuTimer(dev!, { rounds: 1 });
    try {
      const two = [CANDIDATES.conv[0]!, CANDIDATES.conv.find((c) => c.name === 'tiled 64×64 k16 8×8')!];
      const ms = await timer(p, two);
      expect(ms.length).toBe(2);
      // Each timed, or (at most one) given up as more than twice as slow as the other.
      expect(ms.filter((t) => t > 0 && Number.isFinite(t)).length).toBe(2);
      for (const c of two) expect(candidateKernel(p, c, dev!.limits).wgsl.length).toBeGreaterThan(0);
      const r = await tuneGraph(g, {
        mode: 'full',
        adapter: adapterIdentity(dev!),
        limits: dev!.limits,
        base: tuningFor(dev!),
        timer,
        cacheDir: tmp(),
      });
      const choice = r.choices[p.key]!;
      const fastest = Math.min(...Object.values(choice.times));
      const dflt = choice.times[DEFAULT_CANDIDATE.name]!;
      if (choice.name === DEFAULT_CANDIDATE.name)
        expect(fastest).toBeGreaterThanOrEqual((1 - MIN_GAIN) * dflt);
      else expect(choice.ms).toBe(fastest);
      expect(Object.keys(choice.times).length).toBe(candidatesFor(p, dev!.limits, tuningFor(dev!)).length);
      const prog = compile(g, { limits: dev!.limits, tuning: r.tuning }).program;
      expect(prog.tuning[`conv2d.variant@${p.key}`]).toBe(choice.tuning['conv2d.variant']);
    } finally {
      timer.release();
    }
  });

  it('times Winograd plans (four dispatches, three scratch buffers) beside the direct kernel', async () => {
    const g = oneOpGraph('conv2d', [[1, 16, 16, 32]], conv(16, 3));
    const p = problemsOf(g)[0]!;
    const cands = [DEFAULT_CANDIDATE, ...CANDIDATES.conv.filter((c) => c.tuning['conv2d.winograd'])];
    expect(cands.map((c) => candidatePlan(p, c, dev!.limits).dispatches.length)).toEqual([1, 4, 4]);
    const timer = gpuTimer(dev!, { rounds: 1, giveUp: 1000 });
    try {
      const ms = await timer(p, cands, tuningFor(dev!));
      expect(ms.length).toBe(3);
      for (const t of ms) expect(t > 0 && Number.isFinite(t)).toBe(true);
    } finally {
      timer.release();
    }
  });

  it("times gradient kernels, a weight gradient's two passes and scratch included", async () => {
    const a: ConvAttrs = { ...conv(32, 3), bias: true };
    const x = [2, 16, 23, 23];
    const warnings: string[] = [];
    const timer = gpuTimer(dev!, { rounds: 1, warn: (m) => warnings.push(m) });
    try {
      for (const op of ['conv2d_grad_weight', 'conv2d_grad_input'] as const) {
        const p: Problem = {
          key: convGradProblem(op, x, a),
          op,
          x,
          attrs: a,
          out: [2, 32, 23, 23],
          params: [[32, 16, 3, 3], [32]],
          flops: 1,
          count: 1,
        };
        const cands = candidatesFor(p, dev!.limits, tuningFor(dev!));
        expect(cands.length).toBeGreaterThan(3);
        if (op === 'conv2d_grad_weight')
          expect(candidatePlan(p, DEFAULT_CANDIDATE, dev!.limits, tuningFor(dev!)).dispatches.length).toBe(2);
        const ms = await timer(p, cands, tuningFor(dev!));
        expect(warnings).toEqual([]);
        expect(ms.length).toBe(cands.length);
        expect(ms.every((t) => t > 0 && Number.isFinite(t))).toBe(true);
      }
    } finally {
      timer.release();
    }
  });
});
