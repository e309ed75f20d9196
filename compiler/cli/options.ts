// What every command of `fcnc` shares at the edge: the Io it writes to, the context it is registered with,
// option parsers and helpers, building a graph from a spec and rendering diagnostics, the progress bar.
import { Command, Option } from 'commander';
import cliProgress from 'cli-progress';
import { formatDiagnostic, type Diagnostic } from '../diagnostics.ts';
import { buildGraph, type FrontendResult } from '../index.ts';

/** A mistake in how fcnc was called (a malformed or inapplicable option): `fcnc: message`, exit 2. */
export class UsageError extends Error {}

export interface Io {
  out(text: string): void;
  err(text: string): void;
  color: boolean;
}

export const defaultIo: Io = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  color: process.stderr.isTTY === true && !process.env.NO_COLOR,
};

/** What a command's `register` gets from main.ts. */
export interface CommandContext {
  readonly io: Io;
  /** The arguments fcnc was called with (after the program name). */
  readonly argv: readonly string[];
  /** Marks the run as failed by an error in a spec or an input (exit 1); the command may go on. */
  fail(): void;
}

/** A command module: adds its command (options, arguments, action) to the program. */
export type Register = (program: Command, ctx: CommandContext) => void;

/** Parses `512` or `480x640` (H×W). */
export function parseSize(text: string): { height: number; width: number } {
  const m = /^(\d+)(?:[xX×](\d+))?$/.exec(text.trim());
  if (!m) throw new UsageError(`--size must be H or HxW (e.g. 512 or 480x640), got '${text}'`);
  const height = Number(m[1]);
  const width = Number(m[2] ?? m[1]);
  if (height < 1 || width < 1) throw new UsageError(`--size must be positive, got '${text}'`);
  return { height, width };
}

export function parseNonNegativeInt(name: string) {
  return (text: string): number => {
    if (!/^\d+$/.test(text)) throw new UsageError(`${name} must be a non-negative integer, got '${text}'`);
    return Number(text);
  };
}

export function parsePositiveInt(name: string) {
  return (text: string): number => {
    if (!/^\d+$/.test(text) || Number(text) < 1)
      throw new UsageError(`${name} must be a positive integer, got '${text}'`);
    return Number(text);
  };
}

export function parsePositiveNumber(name: string) {
  return (text: string): number => {
    const v = Number(text);
    if (!Number.isFinite(v) || v <= 0)
      throw new UsageError(`${name} must be a positive number, got '${text}'`);
    return v;
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

export function adapterOption(): Option {
  return new Option(
    '--adapter <kind>',
    'WebGPU adapter: auto (a real GPU if any, else software), gpu, software; env FCNC_ADAPTER',
  ).choices(['auto', 'gpu', 'software']);
}

/**
 * `--tune off|cached|full` (env FCNC_TUNE; default cached), for the commands that compile for a device: how conv
 * kernels (and in a training step their gradients' kernels) are chosen (runtime/tune.ts): off — the adapter's fixed defaults; cached — choices measured earlier on
 * this adapter (the tuning cache), defaults for the rest; full — measure every conv problem now and cache it.
 */
export function tuneOption(): Option {
  return new Option(
    '--tune <mode>',
    'kernel choice: off (fixed defaults), cached (measured earlier on this adapter, else defaults), full (measure now); env FCNC_TUNE',
  )
    .choices(['off', 'cached', 'full'])
    .env('FCNC_TUNE')
    .default('cached');
}

/** `--seed <n>` (default 0), for the commands that initialise parameters when no weights are given. */
export function seedOption(): Option {
  return new Option('--seed <n>', 'seed of the initialisation when no weights are given')
    .default(0)
    .argParser(parseNonNegativeInt('--seed'));
}

/** The options of `graphOptions`, as commander hands them to an action. */
export interface GraphOptions {
  size?: { height: number; width: number };
  batch?: number;
  classes?: number;
  set?: Record<string, number | boolean | string | number[]>;
  model?: string;
}

/** Adds the options that choose how a spec is elaborated: --size, --batch, --classes, --set, --model. */
export function graphOptions(cmd: Command): Command {
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

/** Loads, checks and (unless `checkOnly`) elaborates a spec with the graph options. */
export function build(file: string, o: GraphOptions, checkOnly = false): FrontendResult {
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

/** Renders diagnostics on stderr in source order, then the count of errors and warnings. */
export function report(
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

/** A progress bar on the terminal (stderr) with the given format; the callers fall back to plain lines elsewhere. */
const terminalBar = (format: string): cliProgress.SingleBar =>
  new cliProgress.SingleBar({ format, hideCursor: true }, cliProgress.Presets.shades_classic);

/** A progress bar over forward passes on a terminal; plain lines per 10% otherwise. */
export function progressBar(io: Io): {
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
          bar = terminalBar('segmenting [{bar}] {value}/{total} forwards | {image} | eta {eta_formatted}');
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

/** A progress bar over kernel timings (`--tune full`) on a terminal; plain lines per 10% otherwise. */
export function tuningProgress(io: Io): {
  update: (done: number, total: number, what: string) => void;
  stop: () => void;
} {
  let bar: cliProgress.SingleBar | undefined;
  let lastPct = -1;
  let stopped = false;
  return {
    update(done, total, what) {
      if (stopped || total === 0) return;
      if (process.stderr.isTTY && io === defaultIo) {
        if (!bar) {
          bar = terminalBar('tuning kernels [{bar}] {value}/{total} | {what} | eta {eta_formatted}');
          bar.start(total, 0, { what });
        }
        bar.update(done, { what });
      } else {
        const pct = Math.floor((10 * done) / total);
        if (pct !== lastPct) io.err(`tuning kernels: ${done}/${total} (${what})\n`);
        lastPct = pct;
      }
    },
    stop() {
      if (!stopped) bar?.stop();
      stopped = true;
    },
  };
}

/**
 * Progress of a session's first run (runtime/execute.ts FirstRunHook): llvmpipe compiles each kernel at its first
 * dispatch, which for a full-width network at a cold shader cache takes many minutes of silence without this. On a
 * terminal, a bar once the kernels have taken a second; otherwise plain lines per 10% once they have taken five
 * seconds, and a closing line. Quick first runs (a warm cache, a real GPU) print nothing.
 */
export function firstRunProgress(
  io: Io,
  opts: { tty?: boolean; now?: () => number } = {},
): (done: number, total: number, step: { readonly node: string }) => void {
  const tty = opts.tty ?? (process.stderr.isTTY === true && io === defaultIo);
  const now = opts.now ?? (() => performance.now());
  let bar: cliProgress.SingleBar | undefined;
  let t0 = 0;
  let lastPct = -1;
  let printed = false;
  return (done, total, step) => {
    if (done === 0) {
      t0 = now();
      lastPct = -1;
      printed = false;
      bar = undefined;
      return;
    }
    const s = (now() - t0) / 1000;
    if (tty) {
      if (!bar && s >= 1 && done < total) {
        bar = terminalBar(
          'first run, compiling kernels [{bar}] {value}/{total} | {node} | eta {eta_formatted}',
        );
        bar.start(total, done, { node: step.node });
      }
      bar?.update(done, { node: step.node });
      if (done === total) bar?.stop();
      return;
    }
    if (s < 5 && !printed) return;
    const pct = Math.floor((10 * done) / total);
    if (pct !== lastPct && done < total) {
      if (!printed)
        io.err(
          'first run: compiling kernels (a software adapter compiles each at its first dispatch; its shader cache keeps them for later runs)\n',
        );
      io.err(`first run: ${done}/${total} kernels compiled (${step.node}), ${s.toFixed(0)} s\n`);
      printed = true;
    }
    lastPct = pct;
    if (done === total && printed) io.err(`first run: ${total} kernels compiled in ${s.toFixed(0)} s\n`);
  };
}
