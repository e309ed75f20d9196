// `fcnc infer`: segment images (PNG/JPEG files or folders) with the official evaluation protocol; writes
// label maps, colour maps and overlays. Every input is checked before any output is written.
import { Option, type Command } from 'commander';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { Graph } from '../../ir/types.ts';
import type { AdapterChoice } from '../../../runtime/device.ts';
import { Session } from '../../../runtime/execute.ts';
import { IMAGE_EXTENSIONS } from '../../../runtime/image.ts';
import { decodeAll, segmentFiles } from '../../../runtime/infer.ts';
import { loadParams } from '../../../runtime/params.ts';
import { MULTI_SCALE, SINGLE_SCALE, type ProtocolOptions } from '../../../runtime/segment.ts';
import { openDataset } from '../../../runtime/data/datasets.ts';
import {
  adapterOption,
  build,
  graphOptions,
  parsePositiveInt,
  progressBar,
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

export function register(program: Command, { io, fail }: CommandContext): void {
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
      .addOption(seedOption())
      .addOption(adapterOption())
      .addOption(tuneOption())
      .option('--ms', 'multi-scale (0.5–1.75) + flip evaluation')
      .addOption(
        new Option(
          '--crop <n>',
          'window size of the protocol (official 480; the base size scales with it: 520·crop/480)',
        )
          .argParser(parsePositiveInt('--crop'))
          .default(480),
      )
      .option(
        '--data <root>',
        'a dataset whose classes the model was trained on (their names in the legends; their count sets `classes`)',
      )
      .requiredOption('-o, --out <dir>', 'output folder'),
  ).action(
    async (
      spec: string,
      images: string[],
      o: GraphOptions & {
        weights?: string;
        seed: number;
        adapter?: AdapterChoice;
        tune: TuneMode;
        ms?: boolean;
        crop: number;
        data?: string;
        out: string;
      },
    ) => {
      if (o.size || o.batch)
        throw new UsageError(
          'infer runs crop×crop windows one at a time (the official protocol; --crop sets their size); --size and --batch do not apply',
        );
      const paths = collectImages(images);
      if (existsSync(o.out) && !statSync(o.out).isDirectory())
        throw new CommandError(`-o ${o.out}: a file is there; give a folder for the outputs`);
      const names = o.data ? openDataset(o.data, { split: 'val', allowEmpty: true }).classes : undefined;
      const r = build(spec, {
        ...o,
        ...(names && o.classes === undefined ? { classes: names.length } : {}),
        size: { height: o.crop, width: o.crop },
      });
      report(io, r);
      if (!r.graph) {
        fail();
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
            tune: o.tune,
            ms: o.ms,
            crop: o.crop,
            names,
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
}

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
  /** How conv kernels are chosen (default 'cached'). */
  readonly tune?: TuneMode;
  readonly outDir: string;
  readonly ms?: boolean;
  /** The protocol's window (default 480); the base size scales with it (520·crop/480). */
  readonly crop?: number;
  /** Class names for the legends (default: PASCAL Context's for 59 classes, else numbered). */
  readonly names?: readonly string[];
  /** Called once per forward pass with (done, total) for a progress bar. */
  readonly progress?: (done: number, total: number, image: string) => void;
}

/** The official protocol (single or multi-scale) at a window size: the base size keeps the official 520/480 ratio. */
export function protocolFor(ms: boolean | undefined, crop = 480): ProtocolOptions {
  return { ...(ms ? MULTI_SCALE : SINGLE_SCALE), cropSize: crop, baseSize: Math.round((520 * crop) / 480) };
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
    const session = await Session.create(dev, (await compileTuned(main, dev, opts.tune, log)).program, {
      onFirstRun: firstRunProgress(defaultIo),
    });
    await session.setParams(params);
    const inputName = g.inputs[0]!.name;
    const forward = async (window: Float32Array) =>
      (await session.run(new Map([[inputName, window]]))).get(main.outputs[0]!.name)!;
    return await segmentFiles(decoded, forward, {
      outDir: opts.outDir,
      classes,
      protocol: protocolFor(opts.ms, opts.crop),
      progress: opts.progress,
      ...(opts.names ? { names: opts.names } : {}),
    });
  } finally {
    dev.destroy();
  }
}
