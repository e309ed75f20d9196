// `fcnc`, the command line. A thin layer over the compiler's API: each command lives in its own module under
// commands/ (options, action and the work); this file builds the program, registers the commands and maps
// errors to exit codes: 0 ok, 1 errors in a spec (or its inputs), 2 usage errors.
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { LoweringError } from '../codegen/lower.ts';
import { PassError } from '../pipeline.ts';
import { ProgramFormatError } from '../../runtime/program.ts';
import { NoAdapterError } from '../../runtime/device.ts';
import { GpuError } from '../../runtime/execute.ts';
import { ImageError } from '../../runtime/image.ts';
import { WeightsError } from '../../runtime/weights/errors.ts';
import { DataError } from '../../runtime/data/errors.ts';
import { defaultIo, UsageError, type CommandContext, type Io, type Register } from './options.ts';
import { CommandError } from './shared.ts';
import { register as check } from './commands/check.ts';
import { register as info } from './commands/info.ts';
import { register as print } from './commands/print.ts';
import { register as compile } from './commands/compile.ts';
import { register as infer } from './commands/infer.ts';
import { register as run } from './commands/run.ts';
import { register as convert } from './commands/convert.ts';
import { register as compare } from './commands/compare.ts';
import { register as data } from './commands/data.ts';
import { register as profile } from './commands/profile.ts';
import { register as bench } from './commands/bench.ts';
import { register as train } from './commands/train.ts';
import { register as evaluate } from './commands/eval.ts';

export const EXIT_OK = 0;
export const EXIT_SPEC_ERROR = 1;
export const EXIT_USAGE = 2;

// Every command, in the order `fcnc --help` lists them. A new command is one module under commands/ that
// exports `register`, imported above and listed here.
const COMMANDS: readonly Register[] = [
  check,
  info,
  print,
  compile,
  infer,
  run,
  train,
  evaluate,
  convert,
  compare,
  profile,
  bench,
  data,
];

export async function main(argv: readonly string[], io: Io = defaultIo): Promise<number> {
  let code = EXIT_OK;
  const program = new Command('fcnc')
    .description(
      'fcnc — a compiler for FastFCN-family segmentation networks (.fcn specs → op graph → WebGPU)',
    )
    .version(
      JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version as string,
    )
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride();

  const ctx: CommandContext = {
    io,
    argv,
    fail: () => {
      code = EXIT_SPEC_ERROR;
    },
  };
  for (const register of COMMANDS) register(program, ctx);

  try {
    await program.parseAsync(argv as string[], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (
        e.code === 'commander.helpDisplayed' ||
        e.code === 'commander.version' ||
        e.code === 'commander.help'
      )
        return EXIT_OK;
      return EXIT_USAGE;
    }
    if (e instanceof UsageError || (e as { code?: string }).code === 'commander.invalidArgument') {
      io.err(`fcnc: ${(e as Error).message}\n`);
      return EXIT_USAGE;
    }
    const sys = e as NodeJS.ErrnoException;
    if (typeof sys.code === 'string' && typeof sys.syscall === 'string') {
      // A file-system error (an output folder that is a file, no permission, a full disk): say which path.
      io.err(
        `fcnc: cannot ${sys.syscall} ${sys.path ?? ''}: ${sys.code}${sys.code === 'ENOTDIR' || sys.code === 'EEXIST' ? ' (a file is in the way of the output folder)' : ''}\n`,
      );
      return EXIT_SPEC_ERROR;
    }
    if (
      e instanceof WeightsError ||
      e instanceof ImageError ||
      e instanceof CommandError ||
      e instanceof NoAdapterError ||
      e instanceof GpuError ||
      e instanceof LoweringError ||
      e instanceof PassError ||
      e instanceof ProgramFormatError ||
      e instanceof DataError
    ) {
      io.err(`fcnc: ${e.message}\n`);
      return EXIT_SPEC_ERROR;
    }
    throw e;
  }
  return code;
}
