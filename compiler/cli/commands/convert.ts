// `fcnc convert`: weights (PyTorch .pth/.pth.tar, zip or legacy, or safetensors) to safetensors or to a PyTorch
// checkpoint (a bare state dict in torch.save's zip format) with the same names; with --spec, checked against a
// model's state dict key by key first.
import { Option, type Command } from 'commander';
import { basename } from 'node:path';
import type { ParamSpec } from '../../../runtime/params.ts';
import { nativeCrc32, writeFileAtomic } from '../../../runtime/weights/atomic_write.ts';
import { stateDictToPy, writeTorchZipChunks } from '../../../runtime/weights/pth_write.ts';
import { writeSafetensors } from '../../../runtime/weights/safetensors.ts';
import { checkStateDict, loadWeightsFile } from '../../../runtime/weights/state_dict.ts';
import { build, graphOptions, report, type CommandContext, type GraphOptions } from '../options.ts';
import { paramSpecs } from '../shared.ts';

export type ConvertFormat = 'safetensors' | 'pth';

/** The output format an output file name implies: .pth, .pt, .pth.tar → pth; anything else → safetensors. */
export function formatForOutput(file: string): ConvertFormat {
  return /\.(pth|pt|pth\.tar)$/i.test(file) ? 'pth' : 'safetensors';
}

export function register(program: Command, { io, fail }: CommandContext): void {
  graphOptions(
    program
      .command('convert')
      .description(
        'convert weights (PyTorch .pth/.pth.tar, zip or legacy, or safetensors) to safetensors or a PyTorch state ' +
          'dict (.pth/.pt/.pth.tar); with --spec, check them against a model first',
      )
      .argument('<weights>', 'weights file')
      .requiredOption(
        '-o, --out <file>',
        'output file: .pth, .pt or .pth.tar for a PyTorch checkpoint, otherwise safetensors',
      )
      .addOption(
        new Option('--format <format>', 'output format (default: from the output name)').choices([
          'safetensors',
          'pth',
        ]),
      )
      .option('--spec <file>', 'a .fcn spec the weights must match key for key'),
  ).action(
    async (weights: string, o: GraphOptions & { out: string; spec?: string; format?: ConvertFormat }) => {
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
      const format = o.format ?? formatForOutput(o.out);
      const n = await convertWeights(weights, o.out, expected, format);
      io.out(`wrote ${n} tensors to ${o.out} (${format === 'pth' ? 'PyTorch state dict' : 'safetensors'})\n`);
    },
  );
}

/**
 * Any weights file → safetensors or a PyTorch zip checkpoint holding the state dict (an OrderedDict, as
 * model.state_dict() is), same names (checked against a model's state dict when given). The format defaults
 * to the one the output name implies.
 */
export async function convertWeights(
  input: string,
  output: string,
  expected?: readonly ParamSpec[],
  format: ConvertFormat = formatForOutput(output),
): Promise<number> {
  const loaded = await loadWeightsFile(input);
  if (expected)
    checkStateDict(
      expected.map((s) => ({ name: s.name, shape: [...s.shape], dtype: s.dtype })),
      loaded.stateDict,
      { fileName: input },
    );
  if (format === 'pth') {
    await writeFileAtomic(
      output,
      writeTorchZipChunks(stateDictToPy(loaded.stateDict), { crc32: nativeCrc32 }),
    );
    return loaded.stateDict.size;
  }
  const metadata: Record<string, string> = { source: basename(input), format: loaded.format };
  for (const [k, v] of Object.entries(loaded.extra))
    if (['string', 'number', 'boolean'].includes(typeof v)) metadata[k] = String(v);
  await writeFileAtomic(output, [writeSafetensors(loaded.stateDict, metadata)]);
  return loaded.stateDict.size;
}
