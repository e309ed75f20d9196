// The weights a training run starts from: an official checkpoint (the whole model), a backbone only (ImageNet
// weights: `pretrained.*`), or any state dict with some matching names — each tensor whose name and shape match
// the model is loaded, the others initialised as the official code does (seeded), and both lists reported. A
// checkpoint of another class count loads all but the classifiers (fine-tuning on a new dataset).
import { loadParams, type ParamData, type ParamSpec } from '../params.ts';
import { loadWeightsFile } from '../weights/state_dict.ts';
import { toFloat32 } from '../weights/tensor.ts';

export interface StartWeights {
  readonly params: Map<string, ParamData>;
  /** Model tensors taken from the file. */
  readonly loaded: string[];
  /** Model tensors initialised (absent from the file, or of another shape: `name [file shape] → [model shape]`). */
  readonly initialised: string[];
  /** File tensors the model does not have. */
  readonly ignored: string[];
  readonly source: string;
}

export async function startWeights(
  specs: readonly ParamSpec[],
  opts: { weights?: string; seed: number },
): Promise<StartWeights> {
  const init = await loadParams(specs, { seed: opts.seed });
  if (!opts.weights)
    return {
      params: init.params,
      loaded: [],
      initialised: specs.map((s) => s.name),
      ignored: [],
      source: `seeded initialisation (seed ${opts.seed})`,
    };
  const file = await loadWeightsFile(opts.weights);
  // Checkpoints saved from DataParallel prefix every key with `module.`.
  const byName = new Map(
    [...file.stateDict].map(
      ([k, v]) => [k.startsWith('module.') ? k.slice('module.'.length) : k, v] as const,
    ),
  );
  const params = new Map(init.params);
  const loaded: string[] = [];
  const initialised: string[] = [];
  for (const s of specs) {
    const t = byName.get(s.name);
    const same = t && t.shape.length === s.shape.length && t.shape.every((d, i) => d === s.shape[i]);
    if (!t || !same) {
      // num_batches_tracked is optional in old files and never matters for training: not worth a mention.
      if (!s.name.endsWith('num_batches_tracked'))
        initialised.push(t ? `${s.name} [${t.shape.join(', ')}] → [${s.shape.join(', ')}]` : s.name);
      continue;
    }
    if (s.dtype === 'i64') {
      if (t.dtype === 'i64') params.set(s.name, t.data as BigInt64Array);
    } else params.set(s.name, toFloat32(t));
    loaded.push(s.name);
  }
  const names = new Set(specs.map((s) => s.name));
  const ignored = [...byName.keys()].filter((k) => !names.has(k));
  if (loaded.length === 0)
    throw new Error(
      `${opts.weights}: none of its ${byName.size} tensors matches the model's names and shapes (first in the file: ${[...byName.keys()].slice(0, 3).join(', ')}; the model's: ${specs
        .slice(0, 3)
        .map((s) => s.name)
        .join(', ')}) — is it a FastFCN checkpoint?`,
    );
  return {
    params,
    loaded,
    initialised,
    ignored,
    source: `weights from ${opts.weights} (${file.format}): ${loaded.length} tensors loaded, ${initialised.length} initialised, ${ignored.length} ignored`,
  };
}
