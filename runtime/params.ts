// The parameters a Program runs with: from a weights file (safetensors or a PyTorch .pth, checked key by key
// against the model's state dict), or — when none is given — seeded initialisation as the official code does
// (Kaiming normal for convs, ones/zeros for norms, PyTorch defaults for linear layers), per-parameter seeds so
// that one parameter's values do not depend on the others.
import { checkStateDict } from './weights/state_dict.ts';
import { loadWeightsFile } from './weights/state_dict.ts';
import { initTensor, makeRng, seedFor, type ParamInit } from './weights/init.ts';
import { toFloat32 } from './weights/tensor.ts';

export interface ParamSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: 'f32' | 'i64';
  readonly init: ParamInit;
}

export type ParamData = Float32Array | BigInt64Array;

export interface LoadedParams {
  readonly params: Map<string, ParamData>;
  /** One line for the user: where the parameters came from. */
  readonly source: string;
}

export async function loadParams(
  specs: readonly ParamSpec[],
  opts: { weights?: string; seed?: number } = {},
): Promise<LoadedParams> {
  const params = new Map<string, ParamData>();
  if (opts.weights) {
    const loaded = await loadWeightsFile(opts.weights);
    checkStateDict(
      specs.map((s) => ({ name: s.name, shape: [...s.shape], dtype: s.dtype })),
      loaded.stateDict,
      { fileName: opts.weights },
    );
    for (const s of specs) {
      const t = loaded.stateDict.get(s.name);
      if (!t) continue; // num_batches_tracked may be absent from old files
      params.set(s.name, t.dtype === 'i64' ? (t.data as BigInt64Array) : toFloat32(t));
    }
    return {
      params,
      source: `weights from ${opts.weights} (${loaded.format}, ${loaded.stateDict.size} tensors)`,
    };
  }
  const seed = opts.seed ?? 0;
  for (const s of specs) {
    if (s.dtype === 'i64') {
      params.set(
        s.name,
        new BigInt64Array(
          Math.max(
            1,
            s.shape.reduce((a, b) => a * b, 1),
          ),
        ),
      );
      continue;
    }
    params.set(s.name, initTensor(s.shape, s.init, makeRng(seedFor(seed, s.name))));
  }
  return {
    params,
    source: `no weights given: seeded initialisation (seed ${seed}) — the predictions are meaningless until you pass --weights`,
  };
}
