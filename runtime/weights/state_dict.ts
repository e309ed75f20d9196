// Loading a weights file of any supported format (sniffed from its bytes, not its extension) and checking
// a state dict against the names/shapes a model expects.

import { WeightsError, describeFile } from './errors.ts';
import { looksLikeLegacyPth, readPth } from './pth.ts';
import { looksLikeSafetensors, readSafetensors } from './safetensors.ts';
import { describeTensor, type DType, type StateDict } from './tensor.ts';
import { looksLikeZip } from './zip.ts';

export type WeightsFormat = 'safetensors' | 'pth-zip' | 'pth-legacy';

export interface LoadedWeights {
  stateDict: StateDict;
  /**
   * pth: the plain top-level entries of a checkpoint dict (epoch, best_pred, ...);
   * safetensors: the `__metadata__` strings.
   */
  extra: Record<string, unknown>;
  format: WeightsFormat;
}

/** Which format `bytes` are in, or null when unrecognised. */
export function sniffWeightsFormat(bytes: Uint8Array): WeightsFormat | null {
  if (looksLikeZip(bytes)) return 'pth-zip';
  if (looksLikeLegacyPth(bytes)) return 'pth-legacy';
  if (looksLikeSafetensors(bytes)) return 'safetensors';
  return null;
}

/** Parses weights from memory, choosing the format by content. */
export function readWeights(bytes: Uint8Array, fileName?: string): LoadedWeights {
  const f = describeFile(fileName);
  const format = sniffWeightsFormat(bytes);
  if (format === 'safetensors') {
    const { tensors, metadata } = readSafetensors(bytes, fileName);
    return { stateDict: tensors, extra: { ...metadata }, format };
  }
  if (format !== null) {
    const { stateDict, extra } = readPth(bytes, fileName);
    return { stateDict, extra, format };
  }
  if (bytes.length === 0) {
    throw new WeightsError(
      'E_WEIGHTS_TRUNCATED',
      `${f}: the file is empty. Re-download or re-export the weights.`,
      { file: fileName },
    );
  }
  let what = 'its content is not recognised';
  if (bytes[0] === 0x80) what = 'it is a Python pickle but not one written by torch.save';
  else if (bytes.length >= 262 && String.fromCharCode(...bytes.subarray(257, 262)) === 'ustar') {
    what = 'it is a tar archive (the PyTorch < 0.4 checkpoint format, not supported)';
  } else if (bytes[0] === 0x3c || bytes[0] === 0x7b)
    what = 'it looks like a text file (HTML or JSON?), e.g. an error page saved instead of the weights';
  throw new WeightsError(
    'E_WEIGHTS_UNRECOGNIZED',
    `${f}: cannot load weights: ${what}. Supported: .safetensors, and PyTorch checkpoints written by torch.save ` +
      '(zip format of PyTorch >= 1.6, or the legacy format of PyTorch 0.4-1.5), holding a state dict or a ' +
      '{"state_dict": ...} checkpoint dict.',
    { file: fileName },
  );
}

/** Reads and parses a weights file (Node.js only). */
export async function loadWeightsFile(path: string): Promise<LoadedWeights> {
  const { readFile } = await import('node:fs/promises');
  let buf: Uint8Array;
  try {
    buf = await readFile(path);
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (code === 'ENOENT') {
      throw new WeightsError(
        'E_WEIGHTS_NOT_FOUND',
        `${path}: weights file not found. Check the path (and the current directory).`,
        {
          file: path,
          cause: e,
        },
      );
    }
    if (code === 'EISDIR') {
      throw new WeightsError(
        'E_WEIGHTS_IO',
        `${path}: is a directory, not a weights file. Pass the .pth or .safetensors file itself.`,
        {
          file: path,
          cause: e,
        },
      );
    }
    throw new WeightsError(
      'E_WEIGHTS_IO',
      `${path}: cannot read the weights file (${e instanceof Error ? e.message : String(e)}).`,
      {
        file: path,
        cause: e,
      },
    );
  }
  return readWeights(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), path);
}

export interface ExpectedTensor {
  name: string;
  shape: number[];
  dtype: 'f32' | 'i64';
}

export interface CheckOptions {
  /** Names (in the model or the file) to leave out of the comparison. */
  ignore?: (name: string) => boolean;
  /** For the message. */
  fileName?: string;
  /** How many entries of each kind to list (default 20). */
  maxListed?: number;
}

const FLOAT_DTYPES: ReadonlySet<DType> = new Set<DType>(['f32', 'f16', 'bf16', 'f64']);
const INT_DTYPES: ReadonlySet<DType> = new Set<DType>(['i64', 'u64', 'i32', 'u32', 'i16', 'u16', 'i8', 'u8']);

const fmtShape = (s: readonly number[]): string => `[${s.join(',')}]`;

/**
 * Throws WeightsError E_WEIGHTS_MISMATCH unless `got` has exactly the expected names with the expected
 * shapes. Float tensors may be f32/f16/bf16/f64 and integer tensors any integer type (both convert).
 * `*.num_batches_tracked` may be missing (older PyTorch does not save it; it is unused at inference), and
 * may be present even if `expected` omits it, as long as the BN's `running_mean` is expected.
 */
export function checkStateDict(
  expected: readonly ExpectedTensor[],
  got: StateDict,
  opts: CheckOptions = {},
): void {
  const ignore = opts.ignore ?? (() => false);
  const max = opts.maxListed ?? 20;
  const exp = new Map(expected.map((e) => [e.name, e]));
  const missing: string[] = [];
  const unexpected: string[] = [];
  const wrong: string[] = [];
  for (const e of expected) {
    if (ignore(e.name)) continue;
    const t = got.get(e.name);
    if (t === undefined) {
      if (!e.name.endsWith('num_batches_tracked')) missing.push(`${e.name}  ${e.dtype}${fmtShape(e.shape)}`);
      continue;
    }
    const shapeOk = t.shape.length === e.shape.length && t.shape.every((d, i) => d === e.shape[i]);
    const dtypeOk = (e.dtype === 'f32' ? FLOAT_DTYPES : INT_DTYPES).has(t.dtype);
    if (!shapeOk || !dtypeOk)
      wrong.push(`${e.name}: expected ${e.dtype}${fmtShape(e.shape)}, got ${describeTensor(t)}`);
  }
  for (const [name, t] of got) {
    if (exp.has(name) || ignore(name)) continue;
    // A BN counter the model does not list is harmless when the BN itself is expected.
    const bnCounter = /^(.*\.)?num_batches_tracked$/.exec(name);
    if (bnCounter && exp.has(`${bnCounter[1] ?? ''}running_mean`)) continue;
    unexpected.push(`${name}  ${describeTensor(t)}`);
  }
  if (!missing.length && !unexpected.length && !wrong.length) return;
  const section = (title: string, items: string[]): string[] => {
    if (!items.length) return [];
    const lines = [`  ${title} (${items.length}):`, ...items.slice(0, max).map((s) => `    ${s}`)];
    if (items.length > max) lines.push(`    … and ${items.length - max} more`);
    return lines;
  };
  const lines = [
    `${describeFile(opts.fileName)}: the weights do not match the model (${exp.size} tensors expected, ${got.size} in the file):`,
    ...section('missing from the file', missing),
    ...section('unexpected in the file', unexpected),
    ...section('wrong shape or type', wrong),
    'Hint: is this a checkpoint of another variant (backbone depth, head type, JPU vs JPU_X, number of classes, ' +
      'aux/SE heads)? Compare with `fcnc info --json`.',
  ];
  throw new WeightsError('E_WEIGHTS_MISMATCH', lines.join('\n'), { file: opts.fileName });
}
