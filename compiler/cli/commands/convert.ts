// `fcnc convert`: weights (PyTorch .pth/.pth.tar, zip or legacy, or safetensors) to safetensors with the same
// names; with --spec, checked against a model's state dict key by key first.
import type { Command } from 'commander';
import { basename } from 'node:path';
import { writeAtomically } from '../../../runtime/infer.ts';
import type { ParamSpec } from '../../../runtime/params.ts';
import { writeSafetensors } from '../../../runtime/weights/safetensors.ts';
import { checkStateDict, loadWeightsFile } from '../../../runtime/weights/state_dict.ts';
import { build, graphOptions, report, type CommandContext, type GraphOptions } from '../options.ts';
import { paramSpecs } from '../shared.ts';

export function register(program: Command, { io, fail }: CommandContext): void {
  graphOptions(
    program
      .command('convert')
      .description(
        'convert weights (PyTorch .pth/.pth.tar, zip or legacy, or safetensors) to safetensors; with --spec, check them against a model first',
      )
      .argument('<weights>', 'weights file')
      .requiredOption('-o, --out <file>', 'output .safetensors file')
      .option('--spec <file>', 'a .fcn spec the weights must match key for key'),
  ).action(async (weights: string, o: GraphOptions & { out: string; spec?: string }) => {
    let expected: ParamSpec[] | undefined;
    if (o.spec) {
      const r = build(o.spec, o);
      report(io, r);
      if (!r.graph) {
        fail();
        return;
      }
      expected = paramSpecs(r.graph);
    }
    const n = await convertWeights(weights, o.out, expected);
    io.out(`wrote ${n} tensors to ${o.out}\n`);
  });
}

/** Any weights file → safetensors with the same names (checked against a model's state dict when given). */
export async function convertWeights(
  input: string,
  output: string,
  expected?: readonly ParamSpec[],
): Promise<number> {
  const loaded = await loadWeightsFile(input);
  if (expected)
    checkStateDict(
      expected.map((s) => ({ name: s.name, shape: [...s.shape], dtype: s.dtype })),
      loaded.stateDict,
      { fileName: input },
    );
  const metadata: Record<string, string> = { source: basename(input), format: loaded.format };
  for (const [k, v] of Object.entries(loaded.extra))
    if (['string', 'number', 'boolean'].includes(typeof v)) metadata[k] = String(v);
  writeAtomically(output, writeSafetensors(loaded.stateDict, metadata));
  return loaded.stateDict.size;
}
