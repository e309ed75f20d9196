// Training checkpoints (runtime/weights/checkpoint.ts): round trips, official FastFCN checkpoints and bare
// state dicts, validation, atomic writes (a failed or killed write leaves the previous checkpoint intact); with
// PyTorch (skipped without it): the state dict loads strictly into the official model and the optimizer state
// into torch.optim.SGD, and checkpoints written by torch (zip, legacy, `module.` prefix) read back by name.
import { fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkpointToPy,
  decodeCheckpoint,
  encodeCheckpoint,
  readCheckpoint,
  writeCheckpoint,
  type SgdParamGroup,
  type TrainingCheckpoint,
} from '../../../runtime/weights/checkpoint.ts';
import { WeightsError } from '../../../runtime/weights/errors.ts';
import { OrderedDict, writeTorchZip, type PyKey, type PyValue } from '../../../runtime/weights/pth_write.ts';
import { readSafetensors } from '../../../runtime/weights/safetensors.ts';
import type { HostTensor, StateDict } from '../../../runtime/weights/tensor.ts';
import { ROOT } from '../../helpers.ts';
import { catchWeightsError } from './helpers.ts';
import { parseHexFloat, runTorchCheck, torchPython, type PyDesc, type TorchResult } from './torch_python.ts';

const PARITY = join(ROOT, 'test', 'fixtures', 'parity', 'enc_jpu_r50');
const BN_BUFFER = /(running_mean|running_var|num_batches_tracked)$/;

function readSt(path: string): StateDict {
  return readSafetensors(new Uint8Array(readFileSync(path)), path).tensors;
}

const bytesOf = (t: HostTensor): Buffer => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);

/** FastFCN's parameter groups: backbone at lr, jpu / head / auxlayer at 10 × lr. */
function fastfcnGroups(sd: StateDict, lr: number): SgdParamGroup[] {
  const params = [...sd.keys()].filter((k) => !BN_BUFFER.test(k));
  return ['pretrained', 'jpu', 'head', 'auxlayer']
    .map((m) => ({
      lr: m === 'pretrained' ? lr : lr * 10,
      params: params.filter((p) => p.startsWith(`${m}.`)),
    }))
    .filter((g) => g.params.length > 0);
}

/** A checkpoint of the narrow EncNet+JPU with seeded momentum buffers (every 7th parameter has none). */
function sampleCheckpoint(): TrainingCheckpoint {
  const stateDict = readSt(join(PARITY, 'weights.safetensors'));
  const paramGroups = fastfcnGroups(stateDict, 0.01);
  paramGroups[1] = { ...paramGroups[1], momentum: 0.8, dampening: 0.1, weightDecay: 5e-4, nesterov: true };
  const momentum = new Map<string, HostTensor>();
  let seed = 1;
  paramGroups
    .flatMap((g) => g.params)
    .forEach((name, i) => {
      if (i % 7 === 3) return;
      const p = stateDict.get(name)!;
      const data = new Float32Array(p.data.length);
      for (let j = 0; j < data.length; j++) {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        data[j] = (seed / 2 ** 32 - 0.5) * 1e-3;
      }
      momentum.set(name, { dtype: 'f32', shape: [...p.shape], data });
    });
  return {
    epoch: 12,
    iteration: 3744,
    stateDict,
    momentum,
    paramGroups,
    bestPred: 0.4321,
    extra: {
      bestMiou: 0.3125,
      rngState: [0x12345678, 0x9abcdef0, 0, 4294967295],
      loaderPosition: 117,
      spec: 'specs/enc_jpu_r50.fcn',
      settings: ['width=4', 'classes=5'],
      amp: false,
      emptyList: [],
    },
  };
}

function expectSameCheckpoint(got: TrainingCheckpoint, want: TrainingCheckpoint): void {
  expect(got.epoch).toBe(want.epoch);
  expect(got.iteration).toBe(want.iteration);
  expect(got.bestPred).toBe(want.bestPred);
  expect([...got.stateDict.keys()]).toEqual([...want.stateDict.keys()]);
  for (const [k, t] of want.stateDict) {
    const g = got.stateDict.get(k)!;
    expect(g.dtype, k).toBe(t.dtype);
    expect(g.shape, k).toEqual(t.shape);
    expect(bytesOf(g).equals(bytesOf(t)), k).toBe(true);
  }
  expect([...got.momentum.keys()].sort()).toEqual([...want.momentum.keys()].sort());
  for (const [k, t] of want.momentum) {
    expect(got.momentum.get(k)!.shape, k).toEqual(t.shape);
    expect(bytesOf(got.momentum.get(k)!).equals(bytesOf(t)), k).toBe(true);
  }
  expect(got.paramGroups.map((g) => g.params)).toEqual(want.paramGroups.map((g) => g.params));
  expect(got.paramGroups.map((g) => g.lr)).toEqual(want.paramGroups.map((g) => g.lr));
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fcnc-ckpt-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('training checkpoints round trip', () => {
  it('writeCheckpoint → readCheckpoint gives back every field', async () => {
    const ckpt = sampleCheckpoint();
    const path = join(dir, 'rt', 'checkpoint.pth.tar'); // the directory is created
    await writeCheckpoint(path, ckpt);
    const got = await readCheckpoint(path);
    expect(got.origin).toBe('fcnc');
    expectSameCheckpoint(got, ckpt);
    expect(got.paramGroups[0]).toEqual({
      ...ckpt.paramGroups[0],
      momentum: 0.9,
      dampening: 0,
      weightDecay: 1e-4,
      nesterov: false,
    });
    expect(got.paramGroups[1]).toEqual(ckpt.paramGroups[1]);
    expect(got.extra).toEqual(ckpt.extra);
    expect(got.stateDict.get('pretrained.bn1.num_batches_tracked')?.dtype).toBe('i64');
    expect(readdirSync(join(dir, 'rt'))).toEqual(['checkpoint.pth.tar']); // no temporary file left
  });

  it('is deterministic', () => {
    const a = Buffer.concat(encodeCheckpoint(sampleCheckpoint()));
    const b = Buffer.concat(encodeCheckpoint(sampleCheckpoint()));
    expect(a.equals(b)).toBe(true);
  });

  it('the file is in the official layout: epoch, state_dict, optimizer (SGD), best_pred, fcnc', () => {
    const py = checkpointToPy(sampleCheckpoint()) as Map<PyKey, PyValue>;
    expect([...py.keys()]).toEqual(['epoch', 'state_dict', 'optimizer', 'best_pred', 'fcnc']);
    expect(py.get('state_dict')).toBeInstanceOf(OrderedDict);
    const opt = py.get('optimizer') as Map<PyKey, PyValue>;
    expect([...opt.keys()]).toEqual(['state', 'param_groups']);
    const g0 = (opt.get('param_groups') as Map<PyKey, PyValue>[])[0];
    expect([...g0.keys()]).toEqual([
      'lr',
      'momentum',
      'dampening',
      'weight_decay',
      'nesterov',
      'maximize',
      'foreach',
      'differentiable',
      'params',
    ]);
    const state = opt.get('state') as Map<PyKey, PyValue>;
    const keys = [...state.keys()] as number[];
    expect(keys).toEqual([...keys].sort((a, b) => a - b));
    expect(keys).not.toContain(3); // every 7th parameter has no momentum buffer
  });

  it('a bare state dict (pth or safetensors) reads as epoch 0 without optimizer state', async () => {
    const sd = readSt(join(PARITY, 'weights.safetensors'));
    const pth = join(dir, 'bare.pth');
    writeFileSync(pth, writeTorchZip(new OrderedDict<string, HostTensor>(sd)));
    for (const path of [pth, join(PARITY, 'weights.safetensors'), join(PARITY, 'state_dict_zip.pth')]) {
      const c = await readCheckpoint(path);
      expect(c.origin, path).toBe('state_dict');
      expect(c.epoch).toBe(0);
      expect(c.momentum.size).toBe(0);
      expect(c.paramGroups).toEqual([]);
      expect([...c.stateDict.keys()]).toEqual([...sd.keys()]);
    }
  });

  it('an official-format checkpoint: names from the state dict, module. prefix stripped, numpy-free extras', () => {
    const want = sampleCheckpoint();
    // FastFCN's layout without fcnc's entries, keys with DataParallel's prefix
    const py = checkpointToPy(want) as Map<PyKey, PyValue>;
    py.delete('fcnc');
    const sd = py.get('state_dict') as OrderedDict<string, HostTensor>;
    py.set('state_dict', new OrderedDict([...sd].map(([k, v]) => [`module.${k}`, v])));
    py.set('note', 'plain extra');
    const got = decodeCheckpoint(writeTorchZip(py), 'official.pth.tar');
    expect(got.origin).toBe('fastfcn');
    expectSameCheckpoint(got, { ...want, iteration: 0 });
    expect(got.extra).toEqual({ note: 'plain extra' });
  });

  it('an optimizer that does not match the state dict is refused, naming the problem', () => {
    const py = checkpointToPy(sampleCheckpoint()) as Map<PyKey, PyValue>;
    py.delete('fcnc');
    const sd = py.get('state_dict') as OrderedDict<string, HostTensor>;
    sd.delete('auxlayer.conv5.4.bias');
    let e = catchWeightsError(() => decodeCheckpoint(writeTorchZip(py), 'x.pth'));
    expect(e.code).toBe('E_WEIGHTS_MISMATCH');
    expect(e.message).toMatch(/optimizer has \d+ parameters but the state dict \d+/);
    // the repo's fixture: a hand-made 'optimizer' without parameter lists
    const legacy = readFileSync(join(PARITY, 'checkpoint_legacy.pth.tar'));
    e = catchWeightsError(() => decodeCheckpoint(legacy, 'checkpoint_legacy.pth.tar'));
    expect(e.message).toMatch(/not a torch.optim.SGD state dict: param_groups\[0\]\["params"\]/);
  });
});

describe('writeCheckpoint refuses inconsistent checkpoints before touching the file', () => {
  const base = (): TrainingCheckpoint => {
    const w: HostTensor = { dtype: 'f32', shape: [2], data: Float32Array.from([1, 2]) };
    return {
      epoch: 1,
      iteration: 10,
      stateDict: new Map<string, HostTensor>([
        ['w', w],
        ['bn.running_mean', w],
      ]),
      momentum: new Map([['w', w]]),
      paramGroups: [{ lr: 0.1, params: ['w'] }],
      bestPred: 0,
      extra: {},
    };
  };
  const cases: [string, (c: TrainingCheckpoint) => void, RegExp][] = [
    [
      'unknown parameter',
      (c) => c.paramGroups[0].params.push('nope'),
      /"nope", which is not in the state dict/,
    ],
    ['BN buffer as parameter', (c) => c.paramGroups[0].params.push('bn.running_mean'), /a BN buffer/],
    ['parameter twice', (c) => c.paramGroups.push({ lr: 1, params: ['w'] }), /more than one parameter group/],
    [
      'momentum shape',
      (c) => c.momentum.set('w', { dtype: 'f32', shape: [3], data: new Float32Array(3) }),
      /momentum buffer of "w" is f32\[3\] but the parameter is f32\[2\]/,
    ],
    ['momentum without group', (c) => (c.paramGroups = []), /"w", which no parameter group lists/],
    ['reserved extra', (c) => (c.extra.iteration = 3), /reserved name/],
    [
      'bad extra',
      (c) => (c.extra.x = [1, 'a'] as unknown as number[]),
      /not a number, string, boolean or list/,
    ],
    ['negative epoch', (c) => (c.epoch = -1), /epoch -1/],
  ];
  for (const [name, mutate, msg] of cases) {
    it(name, async () => {
      const path = join(dir, 'refused.pth');
      writeFileSync(path, 'previous');
      const c = base();
      mutate(c);
      await expect(writeCheckpoint(path, c)).rejects.toThrow(msg);
      expect(readFileSync(path, 'utf8')).toBe('previous');
    });
  }
});

describe('atomic writes: an interrupted write leaves the previous checkpoint intact', () => {
  const small = (epoch: number): TrainingCheckpoint => {
    const w: HostTensor = { dtype: 'f32', shape: [4], data: Float32Array.from([epoch, 1, 2, 3]) };
    return {
      epoch,
      iteration: epoch * 10,
      stateDict: new Map([['w', w]]),
      momentum: new Map(),
      paramGroups: [{ lr: 0.1, params: ['w'] }],
      bestPred: 0.5,
      extra: { tag: `e${epoch}` },
    };
  };

  it('a write that fails half way (an error after the first chunk)', async () => {
    const d = join(dir, 'fail');
    const path = join(d, 'checkpoint.pth.tar');
    await writeCheckpoint(path, small(1));
    const before = readFileSync(path);
    const e = await writeCheckpoint(path, small(2), {
      onProgress: () => {
        throw new Error('disk full (simulated)');
      },
    }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(WeightsError);
    expect((e as WeightsError).code).toBe('E_WEIGHTS_IO');
    expect((e as WeightsError).message).toMatch(/disk full \(simulated\).*nothing was changed/);
    expect(readFileSync(path).equals(before)).toBe(true);
    expect(readdirSync(d)).toEqual(['checkpoint.pth.tar']);
    expect((await readCheckpoint(path)).epoch).toBe(1);
    await writeCheckpoint(path, small(3)); // and the next write succeeds
    expect((await readCheckpoint(path)).extra.tag).toBe('e3');
  });

  it('the rename target is a directory', async () => {
    const d = join(dir, 'isdir');
    const target = join(d, 'checkpoint.pth.tar');
    mkdirSync(join(target, 'inside'), { recursive: true });
    const e = await writeCheckpoint(target, small(1)).catch((x: unknown) => x);
    expect((e as WeightsError).code).toBe('E_WEIGHTS_IO');
    expect(readdirSync(d)).toEqual(['checkpoint.pth.tar']); // temporary file removed
    expect(readdirSync(target)).toEqual(['inside']);
  });

  it('a process killed mid-write (SIGKILL)', async () => {
    const d = join(dir, 'kill');
    const path = join(d, 'checkpoint.pth.tar');
    await writeCheckpoint(path, small(1));
    const before = readFileSync(path);
    const child = fork(fileURLToPath(new URL('./checkpoint_child.ts', import.meta.url)), [path], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    let stderr = '';
    child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
    await new Promise<void>((resolve, reject) => {
      child.on('message', (m) => (m === 'paused' ? resolve() : undefined));
      child.on('exit', (code) => reject(new Error(`child exited (${code}) before pausing: ${stderr}`)));
    });
    const leftovers = readdirSync(d).filter((f) => f !== 'checkpoint.pth.tar');
    expect(leftovers).toHaveLength(1); // the temporary file, partly written
    expect(leftovers[0]).toMatch(/^\.checkpoint\.pth\.tar\.tmp-/);
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    expect(readFileSync(path).equals(before)).toBe(true);
    const c = await readCheckpoint(path);
    expect(c.epoch).toBe(1);
    expect(c.extra.tag).toBe('e1');
  });
});

// ---------------------------------------------------------------------------------------------------------
// With PyTorch

const python = torchPython();

describe.skipIf(python === null)('PyTorch resumes from our checkpoints, and we read its', () => {
  let pdir: string;
  let results: Record<string, TorchResult>;
  const p = (f: string): string => join(pdir, f);
  let ckpt: TrainingCheckpoint;
  beforeAll(async () => {
    pdir = mkdtempSync(join(tmpdir(), 'fcnc-ckpt-torch-'));
    ckpt = sampleCheckpoint();
    await writeCheckpoint(p('ours.pth.tar'), ckpt);
    results = runTorchCheck(python!, pdir, [
      {
        op: 'sgd',
        id: 'sgd',
        file: p('ours.pth.tar'),
        variant: 'enc_jpu_r50',
        momentum_out: p('m.safetensors'),
      },
      {
        op: 'make_official',
        id: 'official',
        variant: 'enc_jpu_r50',
        out_zip: p('official_zip.pth.tar'),
        out_legacy: p('official_legacy.pth.tar'),
        out_legacy_module: p('official_legacy_module.pth.tar'),
        momentum_out: p('official_m.safetensors'),
        weights_out: p('official_w.safetensors'),
      },
    ]);
  });
  afterAll(() => rmSync(pdir, { recursive: true, force: true }));

  const ok = (id: string): TorchResult => {
    const r = results[id];
    expect(r.ok, `${r.error}\n${r.trace}`).toBe(true);
    return r;
  };

  it('torch.load + model.load_state_dict (strict) + SGD.load_state_dict accept our checkpoint', () => {
    const r = ok('sgd');
    expect(r.top_keys).toEqual(['epoch', 'state_dict', 'optimizer', 'best_pred', 'fcnc']);
    expect(r.optimizer_keys).toEqual(['state', 'param_groups']);
    expect(r.epoch).toBe(12);
    const best = r.best_pred as { t: string; v: string };
    expect(best.t).toBe('float');
    expect(parseHexFloat(best.v)).toBe(0.4321);
    expect(r.stepped).toBe(true);
    // weights_only=True: torch 1.13 has no BINFLOAT (lr, best_pred are floats); torch >= 2.0 reads it
    if (String(results.torch).startsWith('1.'))
      expect(r.weights_only_error).toMatch(/Unsupported operand 71/);
    else expect(r.weights_only_error).toBeNull();
  });

  it('the SGD state torch loaded is ours, parameter by parameter, group by group', () => {
    const r = ok('sgd');
    const m = readSt(p('m.safetensors'));
    expect([...m.keys()].sort()).toEqual([...ckpt.momentum.keys()].sort());
    for (const [k, t] of ckpt.momentum) expect(bytesOf(m.get(k)!).equals(bytesOf(t)), k).toBe(true);
    const groups = r.param_groups as Record<string, unknown>[];
    expect(groups.map((g) => g.params)).toEqual(ckpt.paramGroups.map((g) => g.params));
    expect(groups.map((g) => g.lr)).toEqual(ckpt.paramGroups.map((g) => g.lr));
    expect(groups[0]).toMatchObject({ momentum: 0.9, dampening: 0, weight_decay: 1e-4, nesterov: false });
    expect(groups[1]).toMatchObject({ momentum: 0.8, dampening: 0.1, weight_decay: 5e-4, nesterov: true });
    expect(groups[0]).toMatchObject({ maximize: false, foreach: null });
  });

  it("fcnc's entries are a plain dict in Python", () => {
    const d = ok('sgd').fcnc as PyDesc;
    expect(d.t).toBe('dict');
    const keys = (d as { items: [PyDesc, PyDesc][] }).items.map(([k]) =>
      Buffer.from((k as { v: string }).v, 'hex').toString('utf8'),
    );
    expect(keys).toEqual(['version', 'iteration', 'param_names', ...Object.keys(ckpt.extra)]);
  });

  for (const [file, label] of [
    ['official_zip.pth.tar', 'zip'],
    ['official_legacy.pth.tar', 'legacy (pre-1.6)'],
    ['official_legacy_module.pth.tar', 'legacy, module. prefix'],
  ]) {
    it(`an official checkpoint saved by torch (${label}) reads with momentum buffers by name`, async () => {
      const r = ok('official');
      const c = await readCheckpoint(p(file));
      expect(c.origin).toBe('fastfcn');
      expect(c.epoch).toBe(3);
      expect(c.bestPred).toBe(0.4375);
      const w = readSt(p('official_w.safetensors'));
      const m = readSt(p('official_m.safetensors'));
      expectSameCheckpoint(c, {
        ...ckpt,
        epoch: 3,
        iteration: 0,
        bestPred: 0.4375,
        stateDict: w,
        momentum: m,
        paramGroups: (r.groups as string[][]).map((params, i) => ({ lr: (r.lrs as number[])[i], params })),
      });
      expect(c.paramGroups.map((g) => g.params)).toEqual(fastfcnGroups(w, 0.01).map((g) => g.params));
      expect(c.paramGroups[0]).toMatchObject({
        momentum: 0.9,
        weightDecay: 1e-4,
        nesterov: false,
        dampening: 0,
      });
      // and written back by us, torch reads it again: same names, same buffers
      const again = decodeCheckpoint(Buffer.concat(encodeCheckpoint(c)));
      expectSameCheckpoint(again, c);
    });
  }
});
