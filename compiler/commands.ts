// The commands that run networks: `fcnc compile` (write generated code), `fcnc infer` (segment images) and
// `fcnc run` (tensors in, named tensors out). cli.ts parses options and renders errors; the work is here.
import { readdirSync, statSync } from 'node:fs';
import { basename, extname, join, relative, resolve } from 'node:path';
import { checkStateDict, loadWeightsFile } from '../runtime/weights/state_dict.ts';
import { closest } from './diagnostics.ts';
import { lowerToProgram, type DeviceLimits } from './codegen/program.ts';
import { emitModel } from './codegen/emit.ts';
import { lowerInChunks } from './codegen/batch.ts';
import { runInChunks } from '../runtime/chunks.ts';
import type { Graph } from './ir/types.ts';
import { debugLevel, debugStage } from './index.ts';
import { openDevice, type AdapterChoice, type OpenedDevice } from '../runtime/device.ts';
import { Session } from '../runtime/execute.ts';
import { IMAGE_EXTENSIONS, ImageError } from '../runtime/image.ts';
import { decodeAll, segmentFiles, writeAtomically } from '../runtime/infer.ts';
import { loadParams, type ParamSpec } from '../runtime/params.ts';
import type { Program } from '../runtime/program.ts';
import { MULTI_SCALE, SINGLE_SCALE } from '../runtime/segment.ts';
import { tuningFor } from '../runtime/tuning.ts';
import { readSafetensors, writeSafetensors } from '../runtime/weights/safetensors.ts';
import { toFloat32, type StateDict } from '../runtime/weights/tensor.ts';
import { readFileSync } from 'node:fs';

/** A problem with what the user gave (inputs, names, files): reported as `fcnc: message`, exit 1. */
export class CommandError extends Error {}

export interface Log {
  info(line: string): void;
}

export function paramSpecs(g: Graph): ParamSpec[] {
  return g.params.map((p) => ({ name: p.name, shape: p.shape, dtype: p.dtype, init: p.init }));
}

/** A graph whose outputs are extended with named values (for `fcnc run --outputs`). Pure: returns a new graph. */
export function withOutputs(g: Graph, names: readonly string[]): Graph {
  const byName = new Map<string, number>();
  for (const n of g.names) if (!byName.has(n.name)) byName.set(n.name, n.node);
  for (const o of g.outputs) byName.set(o.name, o.node);
  const outputs = [...g.outputs];
  // The name of a block instance with several outputs stands for all of them.
  const expanded = names.flatMap((n) =>
    byName.has(n) ? [n] : (g.groups?.find((x) => x.name === n)?.members ?? [n]),
  );
  for (const name of expanded) {
    if (outputs.some((o) => o.name === name)) continue;
    const node = byName.get(name);
    if (node === undefined) {
      const guess = closest(name, byName.keys());
      throw new CommandError(
        `'${name}' names no output or value of ${g.model}${guess ? `; did you mean '${guess}'?` : ''} (see \`fcnc print --stage ir\` for every name)`,
      );
    }
    outputs.push({ name, node });
  }
  return { ...g, outputs };
}

/** Every named value of a graph (outputs first), for `--all`. */
export function allNames(g: Graph): string[] {
  const seen = new Set<string>(g.outputs.map((o) => o.name));
  const out = [...seen];
  for (const n of g.names)
    if (!seen.has(n.name) && !n.name.includes('<')) (seen.add(n.name), out.push(n.name));
  return out;
}

async function open(adapter: AdapterChoice | undefined, log: Log): Promise<OpenedDevice> {
  const dev = await openDevice({ adapter });
  log.info(dev.description);
  return dev;
}

function lowerFor(g: Graph, dev: OpenedDevice): Program {
  const t = performance.now();
  const p = lowerToProgram(g, dev.limits as DeviceLimits, { tuning: tuningFor(dev) });
  debugStage(1, `lower (${p.steps.length} dispatches, ${p.kernels.length} kernels)`, t);
  if (debugLevel() >= 3)
    for (const s of p.steps)
      process.stderr.write(
        `[fcnc] step ${s.kernel} grid ${s.grid.join('×')} buffers ${s.buffers.join(',')}  // ${s.node} ${s.where}\n`,
      );
  if (debugLevel() >= 4) for (const k of p.kernels) process.stderr.write(`// ---- ${k.name}\n${k.wgsl}\n`);
  return p;
}

// ---- fcnc run ---------------------------------------------------------------------------------------------------

export interface RunInput {
  readonly image: Float32Array;
  readonly shape: readonly [number, number, number, number];
}

/** Reads `image` from a safetensors file: f32, [N, C, H, W]. */
export function readRunInput(path: string): RunInput {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new CommandError(
      `${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`,
    );
  }
  const { tensors } = readSafetensors(bytes, path);
  const t = tensors.get('image');
  if (!t)
    throw new CommandError(
      `${path}: no tensor named 'image' (found: ${[...tensors.keys()].join(', ') || 'none'}); the input must be image: f32 [N, 3, H, W]`,
    );
  if (t.dtype !== 'f32')
    throw new CommandError(
      `${path}: 'image' is ${t.dtype}; expected f32 [N, 3, H, W] (convert with tensor.float() before saving)`,
    );
  if (t.shape.length !== 4)
    throw new CommandError(
      `${path}: 'image' has shape [${t.shape.join(', ')}]; expected 4-D f32 [N, 3, H, W]`,
    );
  return { image: toFloat32(t), shape: t.shape as unknown as [number, number, number, number] };
}

/** Checks that the input fits the graph's declared input (channels; the size was used to build the graph). */
export function checkRunInput(g: Graph, input: RunInput, path: string): void {
  const expected = g.nodes[g.inputs[0]!.node]!.shape;
  if (expected.some((d, i) => d !== input.shape[i]))
    throw new CommandError(
      `${path}: 'image' has shape [${input.shape.join(', ')}] but ${g.model} expects [${expected.join(', ')}] (N, channels, H, W)`,
    );
}

export async function runTensors(
  g: Graph,
  input: RunInput,
  opts: {
    weights?: string;
    seed?: number;
    adapter?: AdapterChoice;
    output: string;
    names?: readonly string[];
    all?: boolean;
  },
  log: Log,
): Promise<string[]> {
  const names = opts.all
    ? allNames(g)
    : opts.names && opts.names.length
      ? opts.names
      : g.outputs.map((o) => o.name);
  const graph = withOutputs({ ...g, outputs: [] }, names);
  const { params, source } = await loadParams(paramSpecs(g), { weights: opts.weights, seed: opts.seed });
  log.info(source);
  const dev = await open(opts.adapter, log);
  try {
    const { program, chunk } = lowerInChunks(graph, dev.limits as DeviceLimits, { tuning: tuningFor(dev) });
    if (chunk < input.shape[0])
      log.info(`batch ${input.shape[0]} does not fit the device's buffer limits: running chunks of ${chunk}`);
    const session = await Session.create(dev, program);
    session.setParams(params);
    const out = await runInChunks(session, program, g.inputs[0]!.name, input.image, input.shape[0]);
    const tensors: StateDict = new Map();
    for (const o of graph.outputs)
      tensors.set(o.name, { dtype: 'f32', shape: [...graph.nodes[o.node]!.shape], data: out.get(o.name)! });
    writeAtomically(
      opts.output,
      writeSafetensors(tensors, { model: g.model, weights: opts.weights ?? `seed ${opts.seed ?? 0}` }),
    );
    return [...tensors.keys()];
  } finally {
    dev.destroy();
  }
}

// ---- fcnc infer -------------------------------------------------------------------------------------------------

/** Image files named on the command line; folders contribute their PNG/JPEG files in name order. */
export function collectImages(paths: readonly string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    let st;
    try {
      st = statSync(p);
    } catch {
      throw new CommandError(`${p}: no such image file or folder`);
    }
    if (st.isDirectory()) {
      const files = readdirSync(p)
        .filter((f) => IMAGE_EXTENSIONS.includes(extname(f).toLowerCase()))
        .sort()
        .map((f) => join(p, f));
      if (files.length === 0) throw new CommandError(`${p}: the folder has no .png, .jpg or .jpeg images`);
      out.push(...files);
    } else out.push(p);
  }
  if (out.length === 0) throw new CommandError('no images given');
  return out;
}

export interface InferOptions {
  readonly weights?: string;
  readonly seed?: number;
  readonly adapter?: AdapterChoice;
  readonly outDir: string;
  readonly ms?: boolean;
  /** Called once per forward pass with (done, total) for a progress bar. */
  readonly progress?: (done: number, total: number, image: string) => void;
}

/** Segments images with the official protocol (reference §5.4) on a graph built at the crop size (480×480). */
export async function inferImages(
  g: Graph,
  images: readonly string[],
  opts: InferOptions,
  log: Log,
): Promise<string[]> {
  // Everything that can fail on the user's input is checked before any output is written.
  const decoded = decodeAll(images);
  const { params, source } = await loadParams(paramSpecs(g), { weights: opts.weights, seed: opts.seed });
  log.info(source);
  const classes = g.nodes[g.outputs[0]!.node]!.shape[1]!;
  const dev = await open(opts.adapter, log);
  try {
    const main = { ...g, outputs: [g.outputs[0]!] };
    const session = await Session.create(dev, lowerFor(main, dev));
    session.setParams(params);
    const inputName = g.inputs[0]!.name;
    const forward = async (window: Float32Array) =>
      (await session.run(new Map([[inputName, window]]))).get(main.outputs[0]!.name)!;
    return await segmentFiles(decoded, forward, {
      outDir: opts.outDir,
      classes,
      protocol: opts.ms ? MULTI_SCALE : SINGLE_SCALE,
      progress: opts.progress,
    });
  } finally {
    dev.destroy();
  }
}

// ---- fcnc convert -----------------------------------------------------------------------------------------------

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

// ---- fcnc compile -----------------------------------------------------------------------------------------------

export async function compileToDir(g: Graph, outDir: string, command: string): Promise<string[]> {
  const program = lowerToProgram(g);
  return emitModel(g, program, outDir, {
    command,
    runtimeDir: relative(resolve(outDir), resolve(join(import.meta.dirname, '..', 'runtime'))),
  });
}

export { ImageError };
