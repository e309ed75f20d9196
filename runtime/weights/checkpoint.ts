// Training checkpoints in the official FastFCN format (train.py: `torch.save({'epoch', 'state_dict',
// 'optimizer', 'best_pred'}, 'checkpoint.pth.tar')`), written as a PyTorch zip checkpoint (pth_write.ts):
//
//   {'epoch': int,
//    'state_dict': OrderedDict(name → tensor)          official names, num_batches_tracked (i64) kept
//    'optimizer': torch.optim.SGD.state_dict()         {'state': {index: {'momentum_buffer': tensor}},
//                                                       'param_groups': [{'lr', 'momentum', 'dampening',
//                                                       'weight_decay', 'nesterov', 'maximize', 'foreach',
//                                                       'differentiable', 'params': [index, …]}, …]}
//    'best_pred': float,
//    'fcnc': {'version': 1, 'iteration': int, 'param_names': [str, …], …extra}}   plain values only
//
// Parameter indices number the parameters of all groups in order, as Optimizer.state_dict() does; 'param_names'
// names them (index i → param_names[i]). A file without it (an official checkpoint) gets the names from its
// state dict: the parameters in state-dict order, i.e. the state dict without BN buffers (running_mean,
// running_var, num_batches_tracked), which is model.parameters() order and, for FastFCN's groups
// (pretrained, jpu, head, auxlayer), the optimizer's order. So `torch.load(path)` resumes official training
// code (model.load_state_dict(ckpt['state_dict']); optimizer.load_state_dict(ckpt['optimizer'])), and fcnc
// reads official checkpoints. Files are written atomically: a crash never leaves a partial checkpoint.

import { readFile } from 'node:fs/promises';
import { nativeCrc32, writeFileAtomic, type AtomicWriteOptions } from './atomic_write.ts';
import { WeightsError, describeFile } from './errors.ts';
import { pyTypeName as pyTypeNameOf, type PyValue as PyRead } from './pickle.ts';
import { TensorValue, readPthValue, stripModulePrefix } from './pth.ts';
import {
  OrderedDict,
  pyFloat,
  writeTorchZipChunks,
  type PyKey,
  type PyValue,
  type TorchZipOptions,
} from './pth_write.ts';
import { readWeights, sniffWeightsFormat } from './state_dict.ts';
import { describeTensor, type HostTensor, type StateDict } from './tensor.ts';

/** One SGD parameter group. Defaults are FastFCN's: momentum 0.9, dampening 0, weight decay 1e-4, no Nesterov. */
export interface SgdParamGroup {
  lr: number;
  /** Parameter names (official state-dict names), in the optimizer's order. */
  params: string[];
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

export type CheckpointExtraValue = number | string | boolean | number[] | string[];

export interface TrainingCheckpoint {
  /** As FastFCN's train.py stores it: the number of epochs completed (the epoch to resume at). */
  epoch: number;
  /** Iterations (optimizer steps) completed. 0 when read from a file that does not record it. */
  iteration: number;
  /** Official names; BN num_batches_tracked (i64) included. */
  stateDict: StateDict;
  /** SGD momentum buffers by parameter name; parameters never stepped have none. */
  momentum: Map<string, HostTensor>;
  paramGroups: SgdParamGroup[];
  /** FastFCN's best (pixAcc + mIoU) / 2 so far. */
  bestPred: number;
  /** fcnc's own entries (RNG state, best mIoU, data-loader position, spec, settings, …). */
  extra: Record<string, CheckpointExtraValue>;
  /**
   * Set by readCheckpoint: 'fcnc' (written by writeCheckpoint), 'fastfcn' (an {'epoch', 'state_dict',
   * 'optimizer', 'best_pred'} dict without fcnc's entries), 'state_dict' (bare weights: no optimizer state).
   */
  origin?: 'fcnc' | 'fastfcn' | 'state_dict';
}

const FCNC_KEY = 'fcnc';
const FCNC_VERSION = 1;
const RESERVED_EXTRA = new Set(['version', 'iteration', 'param_names']);
const BN_BUFFER = /(^|\.)(running_mean|running_var|num_batches_tracked)$/;

function fail(
  what: string,
  file?: string,
  code: 'E_WEIGHTS_NOT_STATE_DICT' | 'E_WEIGHTS_MISMATCH' = 'E_WEIGHTS_NOT_STATE_DICT',
): never {
  throw new WeightsError(code, `${file === undefined ? 'training checkpoint' : file}: ${what}.`, { file });
}

const sameShape = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((d, i) => d === b[i]);

// ---------------------------------------------------------------------------------------------------------
// Writing

/** The object `torch.save` would be given (see the file comment). Checks names and shapes. */
export function checkpointToPy(ckpt: TrainingCheckpoint): PyValue {
  if (!Number.isSafeInteger(ckpt.epoch) || ckpt.epoch < 0)
    fail(`epoch ${ckpt.epoch} is not a non-negative integer`);
  if (!Number.isSafeInteger(ckpt.iteration) || ckpt.iteration < 0)
    fail(`iteration ${ckpt.iteration} is not a non-negative integer`);
  const names: string[] = [];
  const index = new Map<string, number>();
  const groups: PyValue[] = [];
  for (const [gi, g] of ckpt.paramGroups.entries()) {
    const ids: number[] = [];
    for (const name of g.params) {
      if (index.has(name)) fail(`parameter "${name}" is in more than one parameter group (or twice in one)`);
      const t = ckpt.stateDict.get(name);
      if (t === undefined) fail(`parameter group ${gi} names "${name}", which is not in the state dict`);
      if (BN_BUFFER.test(name)) fail(`parameter group ${gi} names "${name}", a BN buffer, not a parameter`);
      index.set(name, names.length);
      ids.push(names.length);
      names.push(name);
    }
    const dampening = g.dampening ?? 0;
    groups.push(
      new Map<PyKey, PyValue>([
        ['lr', pyFloat(g.lr)],
        ['momentum', pyFloat(g.momentum ?? 0.9)],
        ['dampening', Number.isInteger(dampening) ? dampening : pyFloat(dampening)],
        ['weight_decay', pyFloat(g.weightDecay ?? 1e-4)],
        ['nesterov', g.nesterov ?? false],
        ['maximize', false],
        ['foreach', null],
        ['differentiable', false],
        ['params', ids],
      ]),
    );
  }
  const state: [number, string, HostTensor][] = [];
  for (const [name, buf] of ckpt.momentum) {
    const i = index.get(name);
    if (i === undefined) fail(`a momentum buffer is given for "${name}", which no parameter group lists`);
    const p = ckpt.stateDict.get(name)!;
    if (!sameShape(p.shape, buf.shape) || p.dtype !== buf.dtype)
      fail(
        `the momentum buffer of "${name}" is ${describeTensor(buf)} but the parameter is ${describeTensor(p)}`,
      );
    state.push([i, name, buf]);
  }
  state.sort((a, b) => a[0] - b[0]);
  const fcnc = new Map<PyKey, PyValue>([
    ['version', FCNC_VERSION],
    ['iteration', ckpt.iteration],
    ['param_names', names],
  ]);
  for (const [k, v] of Object.entries(ckpt.extra)) {
    if (RESERVED_EXTRA.has(k))
      fail(`extra entry "${k}" uses a reserved name (${[...RESERVED_EXTRA].join(', ')})`);
    if (!isExtraValue(v))
      fail(`extra entry "${k}" is not a number, string, boolean or list of numbers or strings`);
    fcnc.set(k, Array.isArray(v) ? [...v] : v);
  }
  return new Map<PyKey, PyValue>([
    ['epoch', ckpt.epoch],
    ['state_dict', new OrderedDict<string, HostTensor>(ckpt.stateDict)],
    [
      'optimizer',
      new Map<PyKey, PyValue>([
        ['state', new Map<PyKey, PyValue>(state.map(([i, , t]) => [i, new Map([['momentum_buffer', t]])]))],
        ['param_groups', groups],
      ]),
    ],
    ['best_pred', pyFloat(ckpt.bestPred)],
    [FCNC_KEY, fcnc],
  ]);
}

function isExtraValue(v: unknown): v is CheckpointExtraValue {
  if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') return true;
  if (!Array.isArray(v)) return false;
  return v.every((x) => typeof x === 'number') || v.every((x) => typeof x === 'string');
}

/** The checkpoint file as chunks (their concatenation is the file); see writeTorchZipChunks. */
export function encodeCheckpoint(ckpt: TrainingCheckpoint, opts?: TorchZipOptions): Uint8Array[] {
  return writeTorchZipChunks(checkpointToPy(ckpt), { crc32: nativeCrc32, ...opts });
}

/** Writes a training checkpoint atomically (see writeFileAtomic). */
export async function writeCheckpoint(
  path: string,
  ckpt: TrainingCheckpoint,
  opts: AtomicWriteOptions & TorchZipOptions = {},
): Promise<void> {
  const chunks = encodeCheckpoint(ckpt, opts);
  await writeFileAtomic(path, chunks, opts);
}

// ---------------------------------------------------------------------------------------------------------
// Reading

const pyTypeName = (v: PyRead | undefined): string => (v === undefined ? 'missing' : pyTypeNameOf(v));
const isInt = (v: PyRead | undefined): v is number => typeof v === 'number' && Number.isSafeInteger(v);
const isNum = (v: PyRead | undefined): v is number => typeof v === 'number';

function toStateDict(m: Map<PyRead, PyRead>, file: string): StateDict {
  const sd: StateDict = new Map();
  for (const [k, v] of m) {
    if (typeof k !== 'string') fail(`the state dict has a ${pyTypeName(k)} key`, file);
    if (!(v instanceof TensorValue)) fail(`state_dict entry "${k}" is ${pyTypeName(v)}, not a tensor`, file);
    sd.set(k, v.tensor);
  }
  return stripModulePrefix(sd);
}

function plainExtra(v: PyRead): CheckpointExtraValue | undefined {
  if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'bigint') return Number(v);
  if (Array.isArray(v)) {
    if (v.every((x) => typeof x === 'number' || typeof x === 'bigint')) return v.map((x) => Number(x));
    if (v.every((x) => typeof x === 'string')) return [...(v as string[])];
  }
  return undefined;
}

/**
 * Parses a training checkpoint from memory: one written by writeCheckpoint, an official FastFCN checkpoint
 * ({'epoch', 'state_dict', 'optimizer', 'best_pred'}, zip or legacy, `module.` prefix stripped) or bare
 * weights (a state dict in any format loadWeightsFile reads: epoch 0, no optimizer state).
 */
export function decodeCheckpoint(bytes: Uint8Array, fileName?: string): TrainingCheckpoint {
  const file = describeFile(fileName);
  const format = sniffWeightsFormat(bytes);
  if (format === null || format === 'safetensors') {
    const w = readWeights(bytes, fileName); // throws the reader's error for unrecognised files
    return bareStateDict(w.stateDict);
  }
  const { value } = readPthValue(bytes, fileName);
  if (!(value instanceof Map)) fail(`the file holds ${pyTypeName(value)}, not a checkpoint dict`, file);
  const sdValue = value.get('state_dict');
  if (!(sdValue instanceof Map)) {
    if ([...value.values()].every((v) => v instanceof TensorValue))
      return bareStateDict(toStateDict(value, file));
    fail('no "state_dict" entry, and not a state dict either (not all of its values are tensors)', file);
  }
  const stateDict = toStateDict(sdValue, file);
  const epochV = value.get('epoch');
  const bestV = value.get('best_pred');
  const fcncV = value.get(FCNC_KEY);
  const fcnc = fcncV instanceof Map ? fcncV : undefined;
  const extra: Record<string, CheckpointExtraValue> = {};
  let iteration = 0;
  let names: string[] | undefined;
  if (fcnc) {
    const ver = fcnc.get('version');
    if (isInt(ver) && ver > FCNC_VERSION)
      fail(
        `written by a newer fcnc (checkpoint format version ${ver}, this one reads ${FCNC_VERSION}); update fcnc`,
        file,
      );
    const it = fcnc.get('iteration');
    if (isInt(it)) iteration = it;
    const pn = fcnc.get('param_names');
    if (Array.isArray(pn) && pn.every((x) => typeof x === 'string')) names = pn as string[];
    for (const [k, v] of fcnc) {
      if (typeof k !== 'string' || RESERVED_EXTRA.has(k)) continue;
      const p = plainExtra(v);
      if (p !== undefined) extra[k] = p;
    }
  } else {
    for (const [k, v] of value) {
      if (typeof k !== 'string' || ['epoch', 'state_dict', 'optimizer', 'best_pred'].includes(k)) continue;
      const p = plainExtra(v);
      if (p !== undefined) extra[k] = p;
    }
  }
  const { momentum, paramGroups } = readOptimizer(value.get('optimizer'), stateDict, names, file);
  return {
    epoch: isInt(epochV) ? epochV : 0,
    iteration,
    stateDict,
    momentum,
    paramGroups,
    bestPred: isNum(bestV) ? bestV : 0,
    extra,
    origin: fcnc ? 'fcnc' : 'fastfcn',
  };
}

function bareStateDict(stateDict: StateDict): TrainingCheckpoint {
  return {
    epoch: 0,
    iteration: 0,
    stateDict,
    momentum: new Map(),
    paramGroups: [],
    bestPred: 0,
    extra: {},
    origin: 'state_dict',
  };
}

function readOptimizer(
  opt: PyRead | undefined,
  stateDict: StateDict,
  givenNames: string[] | undefined,
  file: string,
): { momentum: Map<string, HostTensor>; paramGroups: SgdParamGroup[] } {
  const momentum = new Map<string, HostTensor>();
  const paramGroups: SgdParamGroup[] = [];
  if (opt === undefined || opt === null) return { momentum, paramGroups };
  const bad = (what: string): never =>
    fail(`the optimizer state is not a torch.optim.SGD state dict: ${what}`, file);
  if (!(opt instanceof Map)) return bad(`it is ${pyTypeName(opt)}`);
  const groups = opt.get('param_groups');
  const state = opt.get('state') ?? new Map();
  if (!Array.isArray(groups)) return bad('no "param_groups" list');
  if (!(state instanceof Map)) return bad('"state" is not a dict');
  const indexLists = groups.map((g, gi) => {
    if (!(g instanceof Map)) return bad(`param_groups[${gi}] is ${pyTypeName(g)}`);
    const ps = g.get('params');
    if (!Array.isArray(ps) || !ps.every(isInt))
      return bad(`param_groups[${gi}]["params"] is not a list of ints`);
    return ps as number[];
  });
  const total = indexLists.reduce((a, l) => a + l.length, 0);
  let names = givenNames;
  if (names === undefined) {
    // An official checkpoint: its parameters in state-dict order (BN buffers are not parameters).
    names = [...stateDict.keys()].filter((k) => !BN_BUFFER.test(k));
    if (names.length !== total) {
      fail(
        `the optimizer has ${total} parameters but the state dict ${names.length} (without BN buffers), so ` +
          'its momentum buffers cannot be matched to names. Load the weights only (e.g. --weights) and restart ' +
          'the optimizer',
        file,
        'E_WEIGHTS_MISMATCH',
      );
    }
  }
  const nameOf = (i: number): string => {
    const n = names![i];
    if (n === undefined)
      return bad(`parameter index ${i} is out of range (${names!.length} named parameters)`);
    return n;
  };
  groups.forEach((g, gi) => {
    const m = g as Map<PyRead, PyRead>;
    const num = (k: string, dflt: number): number => {
      const v = m.get(k);
      return isNum(v) ? v : typeof v === 'boolean' ? Number(v) : dflt;
    };
    const lr = m.get('lr');
    if (!isNum(lr)) bad(`param_groups[${gi}]["lr"] is not a number`);
    paramGroups.push({
      lr: lr as number,
      params: indexLists[gi].map(nameOf),
      momentum: num('momentum', 0),
      dampening: num('dampening', 0),
      weightDecay: num('weight_decay', 0),
      nesterov: m.get('nesterov') === true,
    });
  });
  for (const [k, s] of state) {
    if (!isInt(k)) bad(`a state key is ${pyTypeName(k)}, not a parameter index`);
    if (!(s instanceof Map)) bad(`state[${String(k)}] is ${pyTypeName(s)}`);
    const buf = (s as Map<PyRead, PyRead>).get('momentum_buffer');
    if (buf === undefined || buf === null) continue;
    if (!(buf instanceof TensorValue)) bad(`state[${String(k)}]["momentum_buffer"] is ${pyTypeName(buf)}`);
    const name = nameOf(k as number);
    const p = stateDict.get(name);
    const t = (buf as TensorValue).tensor;
    if (p !== undefined && !sameShape(p.shape, t.shape)) {
      fail(
        `the momentum buffer of parameter ${String(k)} ("${name}") is ${describeTensor(t)} but the parameter is ` +
          `${describeTensor(p)}; the optimizer's parameter order does not match the state dict's`,
        file,
        'E_WEIGHTS_MISMATCH',
      );
    }
    momentum.set(name, t);
  }
  return { momentum, paramGroups };
}

/** Reads a training checkpoint file (see decodeCheckpoint). */
export async function readCheckpoint(path: string): Promise<TrainingCheckpoint> {
  let buf: Uint8Array;
  try {
    buf = await readFile(path);
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    throw new WeightsError(
      code === 'ENOENT' ? 'E_WEIGHTS_NOT_FOUND' : 'E_WEIGHTS_IO',
      code === 'ENOENT'
        ? `${path}: checkpoint not found. Check the path.`
        : `${path}: cannot read the checkpoint (${e instanceof Error ? e.message : String(e)}).`,
      { file: path, cause: e },
    );
  }
  return decodeCheckpoint(buf, path);
}
