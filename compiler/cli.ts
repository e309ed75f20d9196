// `fcnc`, the command line. A thin layer over the compiler's API: parse options, run a stage, render
// diagnostics at the edge. Exit codes: 0 ok, 1 errors in a spec (or its inputs), 2 usage errors.
import { Command, CommanderError, Option } from 'commander';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { formatDiagnostic, hasErrors, type Diagnostic } from './diagnostics.ts';
import { buildGraph, type FrontendResult } from './index.ts';
import { printGraph } from './ir/print.ts';
import { formatReport, makeReport, mib } from './report.ts';
import { validateInfoJson } from './schemas/validate.ts';
import { compareStateDicts, formatComparison } from '../runtime/compare.ts';
import { ImageError } from '../runtime/image.ts';
import { WeightsError } from '../runtime/weights/errors.ts';
import { readSafetensors } from '../runtime/weights/safetensors.ts';
import { join } from 'node:path';
import {
  checkRunInput,
  collectImages,
  CommandError,
  compileToDir,
  convertWeights,
  inferImages,
  paramSpecs,
  readRunInput,
  runTensors,
} from './commands.ts';
import type { ParamSpec } from '../runtime/params.ts';
import { LoweringError } from './codegen/program.ts';
import { NoAdapterError, type AdapterChoice } from '../runtime/device.ts';
import { GpuError } from '../runtime/execute.ts';
import { SINGLE_SCALE } from '../runtime/segment.ts';
import cliProgress from 'cli-progress';

export const EXIT_OK = 0;
export const EXIT_SPEC_ERROR = 1;
export const EXIT_USAGE = 2;

class UsageError extends Error {}

interface Io {
  out(text: string): void;
  err(text: string): void;
  color: boolean;
}

const defaultIo: Io = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  color: process.stderr.isTTY === true && !process.env.NO_COLOR,
};

/** Parses `512` or `480x640` (H×W). */
export function parseSize(text: string): { height: number; width: number } {
  const m = /^(\d+)(?:[xX×](\d+))?$/.exec(text.trim());
  if (!m) throw new UsageError(`--size must be H or HxW (e.g. 512 or 480x640), got '${text}'`);
  const height = Number(m[1]);
  const width = Number(m[2] ?? m[1]);
  if (height < 1 || width < 1) throw new UsageError(`--size must be positive, got '${text}'`);
  return { height, width };
}

function parseNonNegativeInt(name: string) {
  return (text: string): number => {
    if (!/^\d+$/.test(text)) throw new UsageError(`${name} must be a non-negative integer, got '${text}'`);
    return Number(text);
  };
}

function adapterOption(): Option {
  return new Option(
    '--adapter <kind>',
    'WebGPU adapter: auto (a real GPU if any, else software), gpu, software; env FCNC_ADAPTER',
  ).choices(['auto', 'gpu', 'software']);
}

/** A progress bar over forward passes on a terminal; plain lines per 10% otherwise. */
function progressBar(io: Io): {
  update: (done: number, total: number, image: string) => void;
  stop: () => void;
} {
  let bar: cliProgress.SingleBar | undefined;
  let lastPct = -1;
  let stopped = false;
  return {
    update(done, total, image) {
      if (stopped) return;
      if (process.stderr.isTTY && io === defaultIo) {
        if (!bar) {
          bar = new cliProgress.SingleBar(
            {
              format: 'segmenting [{bar}] {value}/{total} forwards | {image} | eta {eta_formatted}',
              hideCursor: true,
            },
            cliProgress.Presets.shades_classic,
          );
          bar.start(total, 0, { image });
        }
        bar.update(done, { image });
      } else {
        const pct = Math.floor((10 * done) / total);
        if (pct !== lastPct) io.err(`segmenting: ${done}/${total} forwards (${image})\n`);
        lastPct = pct;
      }
    },
    stop() {
      if (!stopped) bar?.stop();
      stopped = true;
    },
  };
}

function parsePositiveNumber(name: string) {
  return (text: string): number => {
    const v = Number(text);
    if (!Number.isFinite(v) || v <= 0)
      throw new UsageError(`${name} must be a positive number, got '${text}'`);
    return v;
  };
}

async function readTensors(path: string) {
  const { readFile } = await import('node:fs/promises');
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

function parsePositiveInt(name: string) {
  return (text: string): number => {
    if (!/^\d+$/.test(text) || Number(text) < 1)
      throw new UsageError(`${name} must be a positive integer, got '${text}'`);
    return Number(text);
  };
}

/** `--set name=value`: value is an int, float, bool, string or a JSON list of numbers. */
export function parseSetting(text: string, acc: Record<string, number | boolean | string | number[]> = {}) {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new UsageError(`--set takes name=value, got '${text}'`);
  const name = text.slice(0, eq);
  const raw = text.slice(eq + 1);
  let value: number | boolean | string | number[];
  if (raw === 'true' || raw === 'false') value = raw === 'true';
  else if (/^-?\d+$/.test(raw)) value = Number(raw);
  else if (/^-?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?$/.test(raw)) value = Number(raw);
  else if (raw.startsWith('[')) {
    try {
      const v = JSON.parse(raw) as unknown;
      if (!Array.isArray(v) || v.some((x) => typeof x !== 'number')) throw new Error();
      value = v as number[];
    } catch {
      throw new UsageError(`--set ${name}: '${raw}' is not a list of numbers like [1,2,4,8]`);
    }
  } else value = raw;
  return { ...acc, [name]: value };
}

interface GraphOptions {
  size?: { height: number; width: number };
  batch?: number;
  classes?: number;
  set?: Record<string, number | boolean | string | number[]>;
  model?: string;
}

function build(file: string, o: GraphOptions, checkOnly = false): FrontendResult {
  const settings = { ...(o.set ?? {}) };
  if (o.classes !== undefined) settings.classes = o.classes;
  return buildGraph(file, {
    height: o.size?.height,
    width: o.size?.width,
    batch: o.batch,
    settings,
    model: o.model,
    checkOnly,
  });
}

function report(
  io: Io,
  r: { diagnostics: readonly Diagnostic[]; sources: ReadonlyMap<string, string> },
): void {
  // In source order, so errors and warnings read top to bottom through each file.
  const sorted = [...r.diagnostics].sort(
    (a, b) =>
      (a.span?.file ?? '').localeCompare(b.span?.file ?? '') || (a.span?.start ?? -1) - (b.span?.start ?? -1),
  );
  for (const d of sorted) io.err(formatDiagnostic(d, r.sources, { color: io.color }) + '\n\n');
  const errors = r.diagnostics.filter((d) => d.severity === 'error').length;
  const warnings = r.diagnostics.length - errors;
  if (errors || warnings)
    io.err(`${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}\n`);
}

function graphOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--size <HxW>', 'input size H or HxW (default 512)').argParser(parseSize))
    .addOption(new Option('--batch <N>', 'batch size (default 1)').argParser(parsePositiveInt('--batch')))
    .addOption(
      new Option('--classes <K>', 'number of classes (sets the model parameter `classes`)').argParser(
        parsePositiveInt('--classes'),
      ),
    )
    .addOption(
      new Option('--set <name=value>', 'set a model parameter (repeatable), e.g. --set width=4').argParser(
        parseSetting,
      ),
    )
    .option('--model <name>', 'which model of the file to build (default: its only model)');
}

export async function main(argv: readonly string[], io: Io = defaultIo): Promise<number> {
  let code = EXIT_OK;
  const program = new Command('fcnc')
    .description(
      'fcnc — a compiler for FastFCN-family segmentation networks (.fcn specs → op graph → WebGPU)',
    )
    .version(JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version as string)
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride();

  program
    .command('check')
    .description('parse, check and elaborate spec files; report every error and warning')
    .argument('<files...>', '.fcn spec files')
    .action((files: string[], o: GraphOptions) => {
      for (const f of files) {
        const r = build(f, o, true);
        report(io, r);
        if (hasErrors(r.diagnostics)) code = EXIT_SPEC_ERROR;
        else
          io.out(
            `${f}: ok${r.graph ? ` (${r.graph.model}: ${r.graph.nodes.length} ops, ${r.graph.params.length} state-dict entries)` : ''}\n`,
          );
      }
    });
  graphOptions(program.commands[0]!);

  graphOptions(
    program
      .command('info')
      .description('per-layer shapes, parameters and MACs; totals by module; activation memory')
      .argument('<file>', '.fcn spec file')
      .option('--json', 'print the report as JSON (schema: compiler/schemas/info.schema.json)')
      .option('--no-layers', 'omit the per-layer table'),
  ).action((file: string, o: GraphOptions & { json?: boolean; layers: boolean }) => {
    const r = build(file, o);
    report(io, r);
    if (!r.graph) {
      code = EXIT_SPEC_ERROR;
      return;
    }
    const rep = makeReport(r.graph);
    if (o.json) {
      const problems = validateInfoJson(rep);
      if (problems) throw new Error(`internal: info JSON does not match its schema: ${problems}`);
      io.out(JSON.stringify(rep, null, 2) + '\n');
    } else io.out(formatReport(rep, { layers: o.layers }));
  });

  graphOptions(
    program
      .command('print')
      .description('print a stage of the compiler: the AST (JSON) or the elaborated IR (text)')
      .addOption(new Option('--stage <stage>', 'which stage').choices(['ast', 'ir']).default('ir'))
      .argument('<file>', '.fcn spec file'),
  ).action((file: string, o: GraphOptions & { stage: 'ast' | 'ir' }) => {
    const r = build(file, o, o.stage === 'ast');
    report(io, r);
    if (hasErrors(r.diagnostics)) {
      code = EXIT_SPEC_ERROR;
      return;
    }
    if (o.stage === 'ast')
      io.out(
        JSON.stringify(r.modules, (k, v) => (k === 'span' || k.endsWith('Span') ? undefined : v), 2) + '\n',
      );
    else io.out(printGraph(r.graph!));
  });

  graphOptions(
    program
      .command('compile')
      .description('compile a spec to WGSL kernels + program.json + a typed model.ts and an infer.ts script')
      .argument('<file>', '.fcn spec file')
      .option('-o, --out <dir>', 'output folder (default: generated/<model>)'),
  ).action(async (file: string, o: GraphOptions & { out?: string }) => {
    const r = build(file, o);
    report(io, r);
    if (!r.graph) {
      code = EXIT_SPEC_ERROR;
      return;
    }
    const outDir = o.out ?? join('generated', r.graph.model);
    const command = ['fcnc', ...argv, ...(o.out ? [] : ['-o', outDir])].join(' ');
    const files = await compileToDir(r.graph, outDir, command);
    io.out(`${r.graph.model}: wrote ${files.length} files to ${outDir}\n`);
    const m = JSON.parse(readFileSync(join(outDir, 'program.json'), 'utf8')).memory as {
      naiveBytes: number;
      plannedBytes: number;
      lowerBoundBytes: number;
    };
    io.out(
      `GPU memory: ${mib(m.plannedBytes)} planned (one buffer per value: ${mib(m.naiveBytes)}; lower bound ${mib(m.lowerBoundBytes)})\n`,
    );
  });

  graphOptions(
    program
      .command('infer')
      .description(
        'segment images (PNG/JPEG files or folders) with the official protocol; writes label maps and overlays',
      )
      .argument('<spec>', '.fcn spec file')
      .argument('<images...>', 'image files or folders')
      .option(
        '--weights <file>',
        'safetensors or PyTorch .pth/.pth.tar with the official names (default: seeded init)',
      )
      .addOption(
        new Option('--seed <n>', 'seed of the initialisation when no weights are given')
          .default(0)
          .argParser(parseNonNegativeInt('--seed')),
      )
      .addOption(adapterOption())
      .option('--ms', 'multi-scale (0.5–1.75) + flip evaluation')
      .requiredOption('-o, --out <dir>', 'output folder'),
  ).action(
    async (
      spec: string,
      images: string[],
      o: GraphOptions & {
        weights?: string;
        seed: number;
        adapter?: AdapterChoice;
        ms?: boolean;
        out: string;
      },
    ) => {
      if (o.size || o.batch)
        throw new UsageError(
          'infer runs 480×480 windows one at a time (the official protocol); --size and --batch do not apply',
        );
      const paths = collectImages(images);
      if (existsSync(o.out) && !statSync(o.out).isDirectory())
        throw new CommandError(`-o ${o.out}: a file is there; give a folder for the outputs`);
      const r = build(spec, { ...o, size: { height: SINGLE_SCALE.cropSize, width: SINGLE_SCALE.cropSize } });
      report(io, r);
      if (!r.graph) {
        code = EXIT_SPEC_ERROR;
        return;
      }
      const bar = progressBar(io);
      try {
        const files = await inferImages(
          r.graph,
          paths,
          {
            weights: o.weights,
            seed: o.seed,
            adapter: o.adapter,
            ms: o.ms,
            outDir: o.out,
            progress: bar.update,
          },
          { info: (l) => io.err(l + '\n') },
        );
        bar.stop();
        for (const f of files) io.out(f + '\n');
      } finally {
        bar.stop();
      }
    },
  );

  graphOptions(
    program
      .command('run')
      .description(
        'run the forward pass on a tensor (safetensors `image`, f32 NCHW) and write named outputs as safetensors',
      )
      .argument('<spec>', '.fcn spec file')
      .requiredOption(
        '--input <file>',
        'safetensors file with `image` [N, 3, H, W] f32; the compiled size follows it',
      )
      .requiredOption('-o, --out <file>', 'output safetensors file')
      .option('--weights <file>', 'safetensors or PyTorch .pth/.pth.tar (default: seeded init)')
      .addOption(
        new Option('--seed <n>', 'seed of the initialisation when no weights are given')
          .default(0)
          .argParser(parseNonNegativeInt('--seed')),
      )
      .addOption(adapterOption())
      .option(
        '--outputs <names>',
        'comma-separated outputs or instance names (pretrained.layer2,jpu,head.encmodule.y)',
      )
      .option('--all', 'write every named value of the network'),
  ).action(
    async (
      spec: string,
      o: GraphOptions & {
        input: string;
        out: string;
        weights?: string;
        seed: number;
        adapter?: AdapterChoice;
        outputs?: string;
        all?: boolean;
      },
    ) => {
      if (o.size || o.batch)
        throw new UsageError(
          'run takes its size and batch from the input tensor; --size/--batch do not apply',
        );
      const input = readRunInput(o.input);
      const [n, , h, w] = input.shape;
      const r = build(spec, { ...o, size: { height: h, width: w }, batch: n });
      report(io, r);
      if (!r.graph) {
        code = EXIT_SPEC_ERROR;
        const stride = r.diagnostics.find((d) => d.code === 'E_STRIDE');
        if (stride)
          io.err(
            `fcnc: ${o.input}: 'image' [${input.shape.join(', ')}] does not fit ${spec}: ${stride.message}\n`,
          );
        return;
      }
      checkRunInput(r.graph, input, o.input);
      const names = o.outputs
        ? o.outputs
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : undefined;
      const written = await runTensors(
        r.graph,
        input,
        { weights: o.weights, seed: o.seed, adapter: o.adapter, output: o.out, names, all: o.all },
        { info: (l) => io.err(l + '\n') },
      );
      io.out(
        `wrote ${written.length} tensors to ${o.out}: ${written.slice(0, 8).join(', ')}${written.length > 8 ? ', …' : ''}\n`,
      );
    },
  );

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
        code = EXIT_SPEC_ERROR;
        return;
      }
      expected = paramSpecs(r.graph);
    }
    const n = await convertWeights(weights, o.out, expected);
    io.out(`wrote ${n} tensors to ${o.out}\n`);
  });

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
      if (!c.ok) code = EXIT_SPEC_ERROR;
    });

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
      e instanceof LoweringError
    ) {
      io.err(`fcnc: ${e.message}\n`);
      return EXIT_SPEC_ERROR;
    }
    throw e;
  }
  return code;
}
