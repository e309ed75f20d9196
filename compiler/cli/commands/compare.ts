// `fcnc compare`: the tensors of two safetensors files (B is the reference): max abs/rel error, argmax
// agreement; exit 1 past the tolerance.
import { Option, type Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { compareStateDicts, formatComparison } from '../../../runtime/compare.ts';
import { WeightsError } from '../../../runtime/weights/errors.ts';
import { readSafetensors } from '../../../runtime/weights/safetensors.ts';
import { parsePositiveNumber, type CommandContext } from '../options.ts';

export function register(program: Command, { io, fail }: CommandContext): void {
  program
    .command('compare')
    .description(
      'compare the tensors of two safetensors files (B is the reference): max abs/rel error, argmax agreement',
    )
    .argument('<a>', 'safetensors file')
    .argument('<b>', 'reference safetensors file')
    .addOption(
      new Option('--tolerance <rel>', 'fail when max|a − b| / max|b| exceeds this')
        .default(1e-4)
        .argParser(parsePositiveNumber('--tolerance')),
    )
    .action(async (a: string, b: string, o: { tolerance: number }) => {
      const [ta, tb] = [await readTensors(a), await readTensors(b)];
      const c = compareStateDicts(ta, tb, o.tolerance);
      io.out(formatComparison(c, o.tolerance));
      if (!c.ok) fail();
    });
}

async function readTensors(path: string) {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new WeightsError(
      'E_WEIGHTS_NOT_FOUND',
      `${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`,
      { file: path },
    );
  }
  return readSafetensors(bytes, path).tensors;
}
