// `fcnc run`: the forward pass on a tensor (safetensors `image`, f32 NCHW) at its size; writes the requested
// outputs and named values as safetensors.
import type { Command } from 'commander';
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
  UsageError,
  type CommandContext,
  type GraphOptions,
} from '../options.ts';
import { CommandError, compileFor, open, paramSpecs, type Log } from '../shared.ts';

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
        fail();
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
    const { program, chunk } = compileFor(graph, dev);
    if (chunk < input.shape[0])
      log.info(`batch ${input.shape[0]} does not fit the device's buffer limits: running chunks of ${chunk}`);
    const session = await Session.create(dev, program);
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
