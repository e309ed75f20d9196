// PyTorch checkpoint (.pth / .pt / .pth.tar) reader, both serialisation formats:
//  * zip (PyTorch >= 1.6): `<archive>/data.pkl` + `<archive>/data/<key>` raw storages (+ byteorder, version);
//    persistent ids ('storage', storage_type, key, location, numel).
//  * legacy (PyTorch 0.4-1.5, e.g. the official FastFCN checkpoints): concatenated pickles — magic number,
//    protocol version, sys_info, the object (persistent ids ('storage', storage_type, root_key, location,
//    numel, view_metadata)), the sorted list of storage keys — followed, for each key in that order, by an
//    int64 little-endian element count and the raw storage bytes.
// Pickles go through the restricted unpickler (pickle.ts): nothing is ever executed.
// The result is a StateDict (tensors copied out of the file, row-major, strides and offsets honoured) and the
// plain (tensor-free) top-level entries of a checkpoint dict as `extra`.

import { WeightsError, describeFile, wrapUnexpected } from './errors.ts';
import { PickledTensor, PyObject, TorchStorageType, pyTypeName, unpickle, type PyValue } from './pickle.ts';
import {
  DTYPE_SIZE,
  allocData,
  dataFromBytes,
  numel,
  type DType,
  type HostTensor,
  type StateDict,
} from './tensor.ts';
import { ZipReader, looksLikeZip } from './zip.ts';

export interface PthFile {
  stateDict: StateDict;
  /** Plain top-level entries of a checkpoint dict (epoch, best_pred, ...); entries holding tensors are dropped. */
  extra: Record<string, unknown>;
  format: 'pth-zip' | 'pth-legacy';
}

/** 0x1950a86a20f9469cfc6c: the first pickle of a legacy torch.save file. */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL_VERSION = 1001;

/** True when `bytes` starts with the pickled legacy magic number (any pickle protocol). */
export function looksLikeLegacyPth(bytes: Uint8Array): boolean {
  if (bytes.length < 14 || bytes[0] !== 0x80) return false;
  try {
    // The magic pickle is ~15-25 bytes (protocol >= 4 adds a FRAME); parse only a small prefix.
    return unpickle(bytes.subarray(0, Math.min(bytes.length, 64))).value === LEGACY_MAGIC;
  } catch {
    return false;
  }
}

/** Raw bytes of one serialised storage. */
class StorageRoot {
  data: Uint8Array | null = null;
  constructor(
    readonly key: string,
    readonly dtype: DType,
    readonly numel: number,
    /** Data written big-endian (legacy sys_info.little_endian == False, or zip byteorder "big"). */
    readonly bigEndian: boolean,
  ) {}
}

/** What a persistent id resolves to: a (possibly offset) window onto a storage root. */
class StorageRef extends PyObject {
  constructor(
    readonly root: StorageRoot,
    readonly dtype: DType,
    /** Offset into the root, in elements of `dtype`. */
    readonly offset: number,
    readonly numel: number,
  ) {
    super();
  }
  describe(): string {
    return `<storage ${this.root.key}>`;
  }
}

export function readPth(bytes: Uint8Array, fileName?: string): PthFile {
  return wrapUnexpected(fileName, 'the PyTorch checkpoint', () => {
    const f = describeFile(fileName);
    if (looksLikeZip(bytes)) return finish(readZip(bytes, fileName), 'pth-zip', fileName, bytes.length);
    if (looksLikeLegacyPth(bytes))
      return finish(readLegacy(bytes, fileName), 'pth-legacy', fileName, bytes.length);
    if (bytes.length >= 262 && String.fromCharCode(...bytes.subarray(257, 262)) === 'ustar') {
      throw new WeightsError(
        'E_WEIGHTS_UNRECOGNIZED',
        `${f}: this is a tar archive, the PyTorch < 0.4 checkpoint format, which is not supported. Load it with ` +
          'PyTorch and re-save the state dict: torch.save(torch.load(path)["state_dict"], "weights.pth").',
        { file: fileName },
      );
    }
    throw new WeightsError(
      'E_WEIGHTS_UNRECOGNIZED',
      `${f}: not a PyTorch checkpoint (neither a zip archive nor a legacy torch.save file). Pass a .pth file ` +
        'written by torch.save or a .safetensors file.',
      { file: fileName },
    );
  });
}

function storageDType(t: PyValue, f: string, fileName: string | undefined): DType {
  if (t instanceof TorchStorageType) return t.dtype;
  throw new WeightsError(
    'E_WEIGHTS_DTYPE',
    `${f}: a tensor storage has type ${pyTypeName(t)}, which is not supported (only float/half/bfloat16/double/` +
      'long/int/short/char/byte/bool storages are). Convert the weights to float32 before saving.',
    { file: fileName },
  );
}

function pidParts(pid: PyValue, f: string, fileName: string | undefined): PyValue[] {
  const corrupt = (what: string): never => {
    throw new WeightsError(
      'E_WEIGHTS_CORRUPT',
      `${f}: bad persistent id in the pickle: ${what}. The file is corrupt.`,
      {
        file: fileName,
      },
    );
  };
  if (!Array.isArray(pid) || pid.length === 0) return corrupt(`expected a tuple, got ${pyTypeName(pid)}`);
  let kind = pid[0];
  if (kind instanceof Uint8Array) kind = new TextDecoder().decode(kind);
  if (kind === 'module') {
    throw new WeightsError(
      'E_PICKLE_FORBIDDEN',
      `${f}: refusing to load: the file contains a pickled torch.nn.Module (with its source code). Only state dicts ` +
        '(tensors, dicts, lists, numbers, strings) are accepted; pickled modules and code are refused. Re-save the ' +
        'weights with torch.save(model.state_dict(), path).',
      { file: fileName },
    );
  }
  if (kind !== 'storage') return corrupt(`unknown persistent id kind ${JSON.stringify(kind)}`);
  return pid.map((v) => (v instanceof Uint8Array ? new TextDecoder().decode(v) : v));
}

function intOf(v: PyValue, what: string, f: string, fileName: string | undefined): number {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  throw new WeightsError(
    'E_WEIGHTS_CORRUPT',
    `${f}: ${what} should be a non-negative int, got ${pyTypeName(v)}. The file is corrupt.`,
    {
      file: fileName,
    },
  );
}

function readZip(bytes: Uint8Array, fileName: string | undefined): PyValue {
  const f = describeFile(fileName);
  const zip = new ZipReader(bytes, fileName);
  const names = [...zip.entries.keys()];
  const pkl = names.find((n) => /^[^/]+\/data\.pkl$/.test(n)) ?? names.find((n) => n === 'data.pkl');
  const prefix = pkl === undefined ? '' : pkl.slice(0, pkl.length - 'data.pkl'.length);
  if (
    pkl === undefined ||
    names.some((n) => n.startsWith(`${prefix}code/`) || n === `${prefix}constants.pkl`)
  ) {
    const ts = names.some((n) => /(^|\/)code\//.test(n) || n.endsWith('constants.pkl'));
    throw new WeightsError(
      'E_WEIGHTS_UNRECOGNIZED',
      ts
        ? `${f}: this is a TorchScript archive (torch.jit.save), not a state-dict checkpoint; TorchScript code is ` +
            'never loaded. Save the weights with torch.save(model.state_dict(), path) instead.'
        : `${f}: a zip archive without a data.pkl entry, so not a PyTorch checkpoint. Pass a .pth written by ` +
            'torch.save or a .safetensors file.',
      { file: fileName },
    );
  }
  let bigEndian = false;
  if (zip.has(`${prefix}byteorder`)) {
    const bo = new TextDecoder().decode(zip.read(`${prefix}byteorder`)).trim();
    if (bo !== 'little' && bo !== 'big') {
      throw new WeightsError(
        'E_WEIGHTS_CORRUPT',
        `${f}: the byteorder record says ${JSON.stringify(bo)}. The file is corrupt.`,
        {
          file: fileName,
        },
      );
    }
    bigEndian = bo === 'big';
  }
  const roots = new Map<string, StorageRoot>();
  const persistentLoad = (pid: PyValue): PyValue => {
    const parts = pidParts(pid, f, fileName);
    if (parts.length < 5)
      throw new WeightsError(
        'E_WEIGHTS_CORRUPT',
        `${f}: a storage persistent id has ${parts.length} fields, expected 5. The file is corrupt.`,
        { file: fileName },
      );
    const dtype = storageDType(parts[1], f, fileName);
    const key = String(parts[2]);
    const n = intOf(parts[4], 'a storage size', f, fileName);
    let root = roots.get(key);
    if (root === undefined) {
      root = new StorageRoot(key, dtype, n, bigEndian);
      const rec = `${prefix}data/${key}`;
      if (!zip.has(rec)) {
        throw new WeightsError(
          'E_WEIGHTS_CORRUPT',
          `${f}: storage "${key}" is referenced but the archive has no "${rec}" entry. The file is corrupt.`,
          { file: fileName },
        );
      }
      root.data = zip.read(rec);
      roots.set(key, root);
    }
    return new StorageRef(root, dtype, 0, Math.floor((root.data?.length ?? 0) / DTYPE_SIZE[dtype]));
  };
  return unpickle(zip.read(pkl), { fileName, persistentLoad }).value;
}

function readLegacy(bytes: Uint8Array, fileName: string | undefined): PyValue {
  const f = describeFile(fileName);
  const corrupt = (what: string): never => {
    throw new WeightsError(
      'E_WEIGHTS_CORRUPT',
      `${f}: invalid legacy PyTorch checkpoint: ${what}. The file is corrupt; re-download or re-save it.`,
      {
        file: fileName,
      },
    );
  };
  const magic = unpickle(bytes, { fileName });
  if (magic.value !== LEGACY_MAGIC) corrupt('bad magic number');
  const proto = unpickle(bytes, { fileName, offset: magic.end });
  if (proto.value !== LEGACY_PROTOCOL_VERSION) {
    corrupt(
      `unsupported serialisation protocol version ${String(proto.value)} (expected ${LEGACY_PROTOCOL_VERSION})`,
    );
  }
  const sys = unpickle(bytes, { fileName, offset: proto.end });
  let bigEndian = false;
  if (sys.value instanceof Map && sys.value.get('little_endian') === false) bigEndian = true;

  const roots = new Map<string, StorageRoot>();
  const views = new Map<string, StorageRef>();
  const persistentLoad = (pid: PyValue): PyValue => {
    const parts = pidParts(pid, f, fileName);
    if (parts.length < 6) corrupt(`a storage persistent id has ${parts.length} fields, expected 6`);
    const dtype = storageDType(parts[1], f, fileName);
    const rootKey = String(parts[2]);
    const n = intOf(parts[4], 'a storage size', f, fileName);
    let root = roots.get(rootKey);
    if (root === undefined) {
      root = new StorageRoot(rootKey, dtype, n, bigEndian);
      roots.set(rootKey, root);
    }
    const view = parts[5];
    if (view === null) return new StorageRef(root, dtype, 0, root.numel);
    // view_metadata = (view_key, offset, view_size), in elements
    if (!Array.isArray(view) || view.length !== 3) return corrupt('bad storage view metadata');
    const viewKey = String(view[0]);
    let ref = views.get(viewKey);
    if (ref === undefined) {
      const off = intOf(view[1], 'a storage view offset', f, fileName);
      const size = intOf(view[2], 'a storage view size', f, fileName);
      if (off + size > root.numel)
        corrupt(
          `storage view "${viewKey}" [${off}, ${off + size}) exceeds its storage of ${root.numel} elements`,
        );
      ref = new StorageRef(root, dtype, off, size);
      views.set(viewKey, ref);
    }
    return ref;
  };
  const main = unpickle(bytes, { fileName, offset: sys.end, persistentLoad });
  const keysPickle = unpickle(bytes, { fileName, offset: main.end });
  const keys = keysPickle.value;
  if (!Array.isArray(keys)) return corrupt('the storage key list is missing');
  let pos = keysPickle.end;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const k of keys) {
    const key = k instanceof Uint8Array ? new TextDecoder().decode(k) : String(k);
    const root = roots.get(key);
    if (root === undefined) corrupt(`the storage list names "${key}", which no tensor uses`);
    if (pos + 8 > bytes.length) {
      throw new WeightsError(
        'E_WEIGHTS_TRUNCATED',
        `${f}: the file ends before the data of storage "${key}". The file is truncated; re-download it.`,
        { file: fileName },
      );
    }
    const count = dv.getBigInt64(pos, !bigEndian);
    pos += 8;
    const es = DTYPE_SIZE[root!.dtype];
    if (count < 0n || count * BigInt(es) > BigInt(bytes.length - pos)) {
      throw new WeightsError(
        'E_WEIGHTS_TRUNCATED',
        `${f}: storage "${key}" announces ${count} elements but the file ends before them. The file is truncated; re-download it.`,
        { file: fileName },
      );
    }
    const nbytes = Number(count) * es;
    root!.data = bytes.subarray(pos, pos + nbytes);
    pos += nbytes;
  }
  for (const root of roots.values()) {
    if (root.data === null) corrupt(`storage "${root.key}" is used but its data is missing from the file`);
  }
  return main.value;
}

// ---------------------------------------------------------------------------------------------------------

/**
 * Upper bound on the bytes materialised from one file: a malicious file could otherwise make many tensors
 * alias one big storage, or use zero strides, to allocate far more memory than its own size.
 */
interface Budget {
  left: number;
}

function materialize(
  t: PickledTensor,
  name: string,
  f: string,
  fileName: string | undefined,
  budget: Budget,
): HostTensor {
  const ref = t.storage;
  if (!(ref instanceof StorageRef)) {
    throw new WeightsError(
      'E_WEIGHTS_CORRUPT',
      `${f}: tensor "${name}" is not backed by a storage. The file is corrupt.`,
      { file: fileName },
    );
  }
  const { dtype, root } = ref;
  const es = DTYPE_SIZE[dtype];
  const size = [...t.size];
  const n = numel(size);
  const data = root.data!;
  const avail = Math.min(ref.numel, Math.floor(data.length / es) - ref.offset);
  const bigEndian = root.bigEndian;
  if (n === 0) return { dtype, shape: size, data: allocData(dtype, 0) } as HostTensor;
  budget.left -= n * es;
  if (budget.left < 0) {
    throw new WeightsError(
      'E_WEIGHTS_CORRUPT',
      `${f}: tensor "${name}" (shape [${size.join(', ')}]) would take the materialised tensors far beyond the size of ` +
        'the file (tensors aliasing one storage many times, or zero strides). Refusing to allocate; re-save the ' +
        'state dict with contiguous tensors (e.g. {k: v.contiguous().clone() for k, v in sd.items()}).',
      { file: fileName },
    );
  }
  let maxIndex = t.storageOffset;
  for (let d = 0; d < size.length; d++) maxIndex += (size[d] - 1) * t.stride[d];
  if (maxIndex >= avail) {
    throw new WeightsError(
      'E_WEIGHTS_CORRUPT',
      `${f}: tensor "${name}" (shape [${size.join(', ')}], offset ${t.storageOffset}, stride [${t.stride.join(', ')}]) ` +
        `reaches element ${maxIndex} of a storage holding ${avail}. The file is corrupt or truncated.`,
      { file: fileName },
    );
  }
  // Contiguous (row-major) check; size-1 dims have arbitrary strides.
  let contiguous = true;
  let expect = 1;
  for (let d = size.length - 1; d >= 0; d--) {
    if (size[d] !== 1 && t.stride[d] !== expect) contiguous = false;
    expect *= size[d];
  }
  const base = ref.offset + t.storageOffset;
  if (contiguous) {
    return {
      dtype,
      shape: size,
      data: dataFromBytes(dtype, data, base * es, n, { copy: true, bigEndian }),
    } as HostTensor;
  }
  // Gather a strided view in row-major order, moving raw element bits (no float canonicalisation).
  const src = dataFromBytes(dtype, data, ref.offset * es, avail, { bigEndian });
  const out = allocData(dtype, n);
  const words = es === 8 ? 2 : 1;
  const W = es === 1 ? Uint8Array : es === 2 ? Uint16Array : Uint32Array;
  const s = new W(src.buffer as ArrayBuffer, src.byteOffset, avail * words);
  const o = new W(out.buffer as ArrayBuffer, out.byteOffset, n * words);
  const nd = size.length;
  const idx = new Array<number>(nd).fill(0);
  let p = t.storageOffset;
  for (let i = 0; i < n; i++) {
    if (words === 1) o[i] = s[p];
    else {
      o[2 * i] = s[2 * p];
      o[2 * i + 1] = s[2 * p + 1];
    }
    for (let d = nd - 1; d >= 0; d--) {
      idx[d]++;
      p += t.stride[d];
      if (idx[d] < size[d]) break;
      p -= t.stride[d] * size[d];
      idx[d] = 0;
    }
  }
  return { dtype, shape: size, data: out } as HostTensor;
}

function article(noun: string): string {
  return /^[aeiou]/i.test(noun) ? `an ${noun}` : /^[<]/.test(noun) ? noun : `a ${noun}`;
}

function isTensorDict(v: PyValue): v is Map<PyValue, PyValue> {
  if (!(v instanceof Map) || v.size === 0) return false;
  for (const [k, x] of v) if (typeof k !== 'string' || !(x instanceof PickledTensor)) return false;
  return true;
}

/** Converts a pickled value to plain JS (no tensors); `undefined` when it holds tensors or other objects. */
function toPlain(v: PyValue, depth: number, seen: Set<object>, budget: Budget = { left: 100_000 }): unknown {
  if (--budget.left < 0) return undefined; // shared sub-objects could otherwise blow up exponentially
  if (
    v === null ||
    typeof v === 'boolean' ||
    typeof v === 'number' ||
    typeof v === 'bigint' ||
    typeof v === 'string'
  )
    return v;
  if (v instanceof Uint8Array) return v;
  if (depth > 32 || seen.has(v)) return undefined;
  seen.add(v);
  try {
    if (Array.isArray(v) || v instanceof Set) {
      const out: unknown[] = [];
      for (const x of v) {
        const p = toPlain(x, depth + 1, seen, budget);
        if (p === undefined) return undefined;
        out.push(p);
      }
      return out;
    }
    if (v instanceof Map) {
      const out: Record<string, unknown> = {};
      for (const [k, x] of v) {
        if (typeof k !== 'string' && typeof k !== 'number' && typeof k !== 'bigint' && typeof k !== 'boolean')
          return undefined;
        const p = toPlain(x, depth + 1, seen, budget);
        if (p === undefined) return undefined;
        out[String(k)] = p;
      }
      return out;
    }
    return undefined;
  } finally {
    seen.delete(v);
  }
}

function finish(
  value: PyValue,
  format: PthFile['format'],
  fileName: string | undefined,
  fileBytes: number,
): PthFile {
  const f = describeFile(fileName);
  const budget: Budget = { left: 4 * fileBytes + 64 * 2 ** 20 };
  const notStateDict = (what: string, todo?: string): never => {
    throw new WeightsError(
      'E_WEIGHTS_NOT_STATE_DICT',
      `${f}: not a state dict: ${what}. ${todo ?? 'Expected a dict of tensors (torch.save(model.state_dict(), path)) or a checkpoint dict with a "state_dict" entry.'}`,
      { file: fileName },
    );
  };
  if (!(value instanceof Map)) {
    return notStateDict(`the file holds ${article(pyTypeName(value))} at top level`);
  }
  let sdValue: Map<PyValue, PyValue> = value;
  const extra: Record<string, unknown> = {};
  const sdEntry = value.get('state_dict');
  if (sdEntry instanceof Map) {
    sdValue = sdEntry;
    for (const [k, v] of value) {
      if (k === 'state_dict' || typeof k !== 'string') continue;
      const p = toPlain(v, 0, new Set());
      if (p !== undefined) extra[k] = p;
    }
  } else {
    const bad = [...value].filter(([k, v]) => typeof k !== 'string' || !(v instanceof PickledTensor));
    if (bad.length > 0) {
      const nested = [...value].find(([k, v]) => typeof k === 'string' && isTensorDict(v));
      const list = bad
        .slice(0, 8)
        .map(
          ([k, v]) =>
            `${typeof k === 'string' ? JSON.stringify(k) : `a ${pyTypeName(k)} key`} is ${article(pyTypeName(v))}`,
        )
        .join(', ');
      return notStateDict(
        `the top-level dict has no "state_dict" entry and not all of its values are tensors (${list}${bad.length > 8 ? `, … and ${bad.length - 8} more` : ''})`,
        nested
          ? `The weights seem to be under the key ${JSON.stringify(nested[0])}; re-save them with torch.save(ckpt[${JSON.stringify(nested[0])}], path).`
          : undefined,
      );
    }
  }
  const stateDict: StateDict = new Map();
  for (const [k, v] of sdValue) {
    if (typeof k !== 'string') return notStateDict(`the state dict has a ${pyTypeName(k)} key`);
    if (!(v instanceof PickledTensor)) {
      return notStateDict(`state_dict entry ${JSON.stringify(k)} is ${article(pyTypeName(v))}, not a tensor`);
    }
    stateDict.set(k, materialize(v, k, f, fileName, budget));
  }
  return { stateDict: stripModulePrefix(stateDict), extra, format };
}

/** Removes a DataParallel `module.` prefix when every key has it. */
export function stripModulePrefix(sd: StateDict): StateDict {
  if (sd.size === 0) return sd;
  for (const k of sd.keys()) if (!k.startsWith('module.')) return sd;
  const out: StateDict = new Map();
  for (const [k, v] of sd) out.set(k.slice('module.'.length), v);
  return out;
}

/** A tensor inside a value returned by `readPthValue`, materialised (row-major, copied out of the file). */
export class TensorValue extends PyObject {
  constructor(readonly tensor: HostTensor) {
    super();
  }
  describe(): string {
    return `tensor of shape [${this.tensor.shape.join(', ')}]`;
  }
}

/**
 * The whole object a PyTorch checkpoint holds (not only its state dict): dicts, lists, tuples (frozen
 * arrays), numbers, strings, with every tensor materialised as a TensorValue — e.g. a training checkpoint's
 * optimizer state. Shared sub-objects stay shared; the same limits as `readPth` apply.
 */
export function readPthValue(
  bytes: Uint8Array,
  fileName?: string,
): { value: PyValue; format: PthFile['format'] } {
  return wrapUnexpected(fileName, 'the PyTorch checkpoint', () => {
    const f = describeFile(fileName);
    let value: PyValue;
    let format: PthFile['format'];
    if (looksLikeZip(bytes)) {
      value = readZip(bytes, fileName);
      format = 'pth-zip';
    } else if (looksLikeLegacyPth(bytes)) {
      value = readLegacy(bytes, fileName);
      format = 'pth-legacy';
    } else {
      throw new WeightsError(
        'E_WEIGHTS_UNRECOGNIZED',
        `${f}: not a PyTorch checkpoint (neither a zip archive nor a legacy torch.save file).`,
        { file: fileName },
      );
    }
    const budget: Budget = { left: 4 * bytes.length + 64 * 2 ** 20 };
    const done = new Map<object, PyValue>();
    const walk = (v: PyValue, path: string): PyValue => {
      if (v === null || typeof v !== 'object' || v instanceof Uint8Array) return v;
      const seen = done.get(v);
      if (seen !== undefined) return seen;
      if (v instanceof PickledTensor) {
        const t = new TensorValue(materialize(v, path || '<top>', f, fileName, budget));
        done.set(v, t);
        return t;
      }
      if (Array.isArray(v)) {
        const out: PyValue[] = [];
        done.set(v, out);
        v.forEach((x, i) => out.push(walk(x, `${path}[${i}]`)));
        if (Object.isFrozen(v)) Object.freeze(out);
        return out;
      }
      if (v instanceof Map) {
        const out = new Map<PyValue, PyValue>();
        done.set(v, out);
        for (const [k, x] of v) out.set(k, walk(x, path ? `${path}.${String(k)}` : String(k)));
        return out;
      }
      if (v instanceof Set) {
        const out = new Set<PyValue>();
        done.set(v, out);
        for (const x of v) out.add(walk(x, path));
        return out;
      }
      return v;
    };
    return { value: walk(value, ''), format };
  });
}
