// `fcnc`, the command line. A thin layer over the compiler's API: parse options, run a stage, render
// diagnostics at the edge. Exit codes: 0 ok, 1 errors in a spec (or its inputs), 2 usage errors.
import { Command, CommanderError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { formatDiagnostic, hasErrors, type Diagnostic } from './diagnostics.ts';
import { buildGraph, type FrontendResult } from './index.ts';
import { printGraph } from './ir/print.ts';
import { formatReport, makeReport } from './report.ts';
import { validateInfoJson } from './schemas/validate.ts';
import { compareStateDicts, formatComparison } from '../runtime/compare.ts';
import { ImageError } from '../runtime/image.ts';
import { WeightsError } from '../runtime/weights/errors.ts';
import { readSafetensors } from '../runtime/weights/safetensors.ts';

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

function parsePositiveNumber(name: string) {
  return (text: string): number => {
    const v = Number(text);
    if (!Number.isFinite(v) || v <= 0) throw new UsageError(`${name} must be a positive number, got '${text}'`);
    return v;
  };
}

/** A problem with a data input (wrong shape or dtype, missing tensor): exit 1 with the message. */
export class InputError extends Error {}

async function readTensors(path: string) {
  const { readFile } = await import('node:fs/promises');
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new WeightsError('E_WEIGHTS_NOT_FOUND', `${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`, { file: path });
  }
  return readSafetensors(bytes, path).tensors;
}

function parsePositiveInt(name: string) {
  return (text: string): number => {
    if (!/^\d+$/.test(text) || Number(text) < 1) throw new UsageError(`${name} must be a positive integer, got '${text}'`);
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
  return buildGraph(file, { height: o.size?.height, width: o.size?.width, batch: o.batch, settings, model: o.model, checkOnly });
}

function report(io: Io, r: { diagnostics: readonly Diagnostic[]; sources: ReadonlyMap<string, string> }): void {
  for (const d of r.diagnostics) io.err(formatDiagnostic(d, r.sources, { color: io.color }) + '\n\n');
  const errors = r.diagnostics.filter((d) => d.severity === 'error').length;
  const warnings = r.diagnostics.length - errors;
  if (errors || warnings) io.err(`${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}\n`);
}

function graphOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--size <HxW>', 'input size H or HxW (default 512)').argParser(parseSize))
    .addOption(new Option('--batch <N>', 'batch size (default 1)').argParser(parsePositiveInt('--batch')))
    .addOption(new Option('--classes <K>', 'number of classes (sets the model parameter `classes`)').argParser(parsePositiveInt('--classes')))
    .addOption(new Option('--set <name=value>', 'set a model parameter (repeatable), e.g. --set width=4').argParser(parseSetting))
    .option('--model <name>', 'which model of the file to build (default: its only model)');
}

export async function main(argv: readonly string[], io: Io = defaultIo): Promise<number> {
  let code = EXIT_OK;
  const program = new Command('fcnc')
    .description('fcnc — a compiler for FastFCN-family segmentation networks (.fcn specs → op graph → WebGPU)')
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
        else io.out(`${f}: ok${r.graph ? ` (${r.graph.model}: ${r.graph.nodes.length} ops, ${r.graph.params.length} state-dict entries)` : ''}\n`);
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
    if (o.stage === 'ast') io.out(JSON.stringify(r.modules, (k, v) => (k === 'span' || k.endsWith('Span') ? undefined : v), 2) + '\n');
    else io.out(printGraph(r.graph!));
  });

  program
    .command('compare')
    .description('compare the tensors of two safetensors files (B is the reference): max abs/rel error, argmax agreement')
    .argument('<a>', 'safetensors file')
    .argument('<b>', 'reference safetensors file')
    .addOption(new Option('--tolerance <rel>', 'fail when max|a − b| / max|b| exceeds this').default(1e-4).argParser(parsePositiveNumber('--tolerance')))
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
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return EXIT_OK;
      return EXIT_USAGE;
    }
    if (e instanceof UsageError || (e as { code?: string }).code === 'commander.invalidArgument') {
      io.err(`fcnc: ${(e as Error).message}\n`);
      return EXIT_USAGE;
    }
    if (e instanceof WeightsError || e instanceof ImageError || e instanceof InputError) {
      io.err(`fcnc: ${e.message}\n`);
      return EXIT_SPEC_ERROR;
    }
    throw e;
  }
  return code;
}
