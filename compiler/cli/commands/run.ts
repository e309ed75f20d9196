// `fcnc run`: the forward pass on a tensor (safetensors `image`, f32 NCHW) at its size; writes the requested
// outputs and named values as safetensors.
import { Option, type Command } from 'commander';
import { readFileSync } from 'node:fs';
import { closest } from '../../diagnostics.ts';
import type { Graph } from '../../ir/types.ts';
import { runInChunks } from '../../../runtime/chunks.ts';
import type { AdapterChoice } from '../../../runtime/device.ts';
import { Session } from '../../../runtime/execute.ts';
import { writeAtomically } from '../../../runtime/infer.ts';
import { loadParams } from '../../../runtime/params.ts';
import { readSafetensors, writeSafetensors } from '../../../runtime/weights/safetensors.ts';
import { toFloat32, type StateDict } from '../../../runtime/weights/tensor.ts';
import {
  adapterOption,
  build,
  graphOptions,
  report,
  seedOption,
  tuneOption,
  UsageError,
  type CommandContext,
  type GraphOptions,
  firstRunProgress,
  defaultIo,
} from '../options.ts';
import { CommandError, compileTuned, open, paramSpecs, type Log } from '../shared.ts';
import type { TuneMode } from '../../../runtime/tune.ts';
import { compileTraining } from '../../compile.ts';
import { HYPER, HYPER_SIZE } from '../../ops/train.ts';
import { tuningFor } from '../../../runtime/tuning.ts';
import { debugStage } from '../../index.ts';

export function register(program: Command, { io, fail }: CommandContext): void {
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
      .addOption(seedOption())
      .addOption(adapterOption())
      .addOption(tuneOption())
      .option(
        '--outputs <names>',
        'comma-separated outputs or instance names (pretrained.layer2,jpu,head.encmodule.y)',
      )
      .option('--all', 'write every named value of the network')
      .option(
        '--grads',
        'one train-mode forward and backward: write the losses, every gradient (under the parameter names) and the updated running statistics',
      )
      .option(
        '--labels <file>',
        'with --grads: safetensors with `labels` [N, H, W] int32/int64 (−1 = ignore)',
      )
      .addOption(
        new Option('--dropout <mode>', 'with --grads: dropout masks as in training, or off')
          .choices(['on', 'off'])
          .default('on'),
      ),
  ).action(
    async (
      spec: string,
      o: GraphOptions & {
        input: string;
        out: string;
        weights?: string;
        seed: number;
        adapter?: AdapterChoice;
        tune: TuneMode;
        outputs?: string;
        all?: boolean;
        grads?: boolean;
        labels?: string;
        dropout: 'on' | 'off';
      },
    ) => {
      if (o.size || o.batch)
        throw new UsageError(
          'run takes its size and batch from the input tensor; --size/--batch do not apply',
        );
      if (!o.grads && o.labels) throw new UsageError('--labels goes with --grads');
      if (o.grads && !o.labels)
        throw new UsageError('--grads needs --labels <file> (safetensors `labels` [N, H, W], −1 = ignore)');
      if (o.grads && (o.outputs || o.all))
        throw new UsageError(
          '--grads writes the losses, gradients and running statistics; drop --outputs/--all',
        );
      const input = readRunInput(o.input);
      const [n, , h, w] = input.shape;
      const r = build(spec, { ...o, size: { height: h, width: w }, batch: n });
      report(io, r);
      if (!r.graph) {
        fail();
        return;
      }
      checkRunInput(r.graph, input, o.input);
      if (o.grads) {
        const classes = r.graph.settings.classes;
        const labels = readLabels(o.labels!, [n, h, w], typeof classes === 'number' ? classes : undefined);
        const written = await runGradients(
          r.graph,
          input,
          labels,
          {
            weights: o.weights,
            seed: o.seed,
            adapter: o.adapter,
            output: o.out,
            dropout: o.dropout === 'on',
          },
          { info: (l) => io.err(l + '\n') },
        );
        io.out(`wrote ${written.summary} to ${o.out}\n`);
        return;
      }
      const names = o.outputs
        ? o.outputs
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : undefined;
      const written = await runTensors(
        r.graph,
        input,
        {
          weights: o.weights,
          seed: o.seed,
          adapter: o.adapter,
          tune: o.tune,
          output: o.out,
          names,
          all: o.all,
        },
        { info: (l) => io.err(l + '\n') },
      );
      io.out(
        `wrote ${written.length} tensors to ${o.out}: ${written.slice(0, 8).join(', ')}${written.length > 8 ? ', …' : ''}\n`,
      );
    },
  );
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
    tune?: TuneMode;
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
    const { program, chunk } = await compileTuned(graph, dev, opts.tune, log);
    if (chunk < input.shape[0])
      log.info(`batch ${input.shape[0]} does not fit the device's buffer limits: running chunks of ${chunk}`);
    const session = await Session.create(dev, program, { onFirstRun: firstRunProgress(defaultIo) });
    await session.setParams(params);
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

/**
 * Reads `labels` from a safetensors file: integers (int32, int64, uint8, int16; or f32/f64 holding integers),
 * [N, H, W] matching the image, each −1 (ignored) or a class index below `classes`.
 */
export function readLabels(
  path: string,
  shape: readonly number[],
  classes: number | undefined,
): Float32Array {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new CommandError(
      `${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`,
    );
  }
  const { tensors } = readSafetensors(bytes, path);
  const t = tensors.get('labels');
  if (!t)
    throw new CommandError(
      `${path}: no tensor named 'labels' (found: ${[...tensors.keys()].join(', ') || 'none'}); expected labels: int64 [N, H, W] with −1 for ignored pixels`,
    );
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))
    throw new CommandError(
      `${path}: 'labels' has shape [${t.shape.join(', ')}] but the image needs [${shape.join(', ')}] (N, H, W)`,
    );
  if (t.dtype === 'bool' || t.dtype === 'f16' || t.dtype === 'bf16')
    throw new CommandError(`${path}: 'labels' is ${t.dtype}; expected int32 or int64 class indices`);
  const out = toFloat32(t);
  const [, h, w] = shape as [number, number, number];
  for (let i = 0; i < out.length; i++) {
    const v = out[i]!;
    if (!Number.isInteger(v) || v < -1 || (classes !== undefined && v >= classes)) {
      const s = Math.floor(i / (h * w));
      const y = Math.floor((i % (h * w)) / w);
      throw new CommandError(
        `${path}: labels[${s}, ${y}, ${i % w}] = ${v}; labels must be −1 (ignored) or a class in 0..${(classes ?? 1) - 1}`,
      );
    }
  }
  return out;
}

/**
 * `fcnc run --grads`: one train-mode forward and backward (program entry `train_step` compiled with gradients as
 * outputs, nothing updated). Writes the losses, every gradient under its parameter's name and the new running
 * statistics (num_batches_tracked counted up by one, as PyTorch does).
 */
export async function runGradients(
  g: Graph,
  input: RunInput,
  labels: Float32Array,
  opts: { weights?: string; seed?: number; adapter?: AdapterChoice; output: string; dropout: boolean },
  log: Log,
): Promise<{ summary: string; names: string[] }> {
  const { params, source } = await loadParams(paramSpecs(g), { weights: opts.weights, seed: opts.seed });
  log.info(source);
  const dev = await open(opts.adapter, log);
  try {
    const t = performance.now();
    const { program, graph } = compileTraining(g, {
      gradientsOnly: true,
      dropout: opts.dropout,
      limits: dev.limits,
      tuning: tuningFor(dev),
    });
    debugStage(1, `compile (${program.entries.train_step!.steps.length} dispatches)`, t);
    const session = await Session.create(dev, program, { onFirstRun: firstRunProgress(defaultIo) });
    await session.setParams(params);
    const hyper = new Float32Array(HYPER_SIZE);
    hyper[HYPER.seed] = opts.seed ?? 0;
    const out = await session.call(
      'train_step',
      new Map([
        [g.inputs[0]!.name, input.image],
        ['labels', labels],
        ['hyper', hyper],
      ]),
    );
    const tensors: StateDict = new Map();
    for (const o of graph.outputs)
      tensors.set(o.name, { dtype: 'f32', shape: [...graph.nodes[o.node]!.shape], data: out.get(o.name)! });
    // num_batches_tracked of every batchnorm whose running statistics moved.
    let counters = 0;
    for (const p of g.params) {
      if (p.role !== 'num_batches_tracked') continue;
      const prefix = p.name.slice(0, -'num_batches_tracked'.length);
      if (!tensors.has(prefix + 'running_mean')) continue;
      const old = params.get(p.name);
      const v = (old instanceof BigInt64Array && old.length ? old[0]! : 0n) + 1n;
      tensors.set(p.name, { dtype: 'i64', shape: [...p.shape], data: BigInt64Array.of(v) });
      counters++;
    }
    writeAtomically(
      opts.output,
      writeSafetensors(tensors, {
        model: g.model,
        weights: opts.weights ?? `seed ${opts.seed ?? 0}`,
        dropout: opts.dropout ? 'on' : 'off',
      }),
    );
    const losses = graph.outputs.filter((o) => o.name === 'loss' || o.name.startsWith('loss.')).length;
    const grads = graph.gradients?.length ?? 0;
    const stats = tensors.size - losses - grads;
    return {
      summary: `${losses} loss terms (loss = ${out.get('loss')![0]!.toPrecision(6)}), ${grads} gradients and ${stats} running statistics`,
      names: [...tensors.keys()],
    };
  } finally {
    dev.destroy();
  }
}
