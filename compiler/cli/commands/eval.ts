// `fcnc eval SPEC --weights W --data ROOT`: pixAcc and mIoU of a model on a dataset split with the official
// evaluation (reference §5.4, `test.py --mode testval`): every image at full resolution through the sliding-window
// protocol (single scale, or `--ms` with flips), the metrics accumulated over the whole split, every class in the
// mean. (`fcnc train` monitors with the faster centre-crop validation the official training loop uses.)
import { Option, type Command } from 'commander';
import { writeFileSync } from 'node:fs';
import type { AdapterChoice } from '../../../runtime/device.ts';
import { Session } from '../../../runtime/execute.ts';
import { loadSample, openDataset, type DataFormat, DATA_FORMATS } from '../../../runtime/data/datasets.ts';
import { loadParams } from '../../../runtime/params.ts';
import { segment } from '../../../runtime/segment.ts';
import { SegmentationMetric } from '../../../runtime/train/metrics.ts';
import type { TuneMode } from '../../../runtime/tune.ts';
import {
  adapterOption,
  build,
  graphOptions,
  parsePositiveInt,
  progressBar,
  report,
  tuneOption,
  UsageError,
  type CommandContext,
  type GraphOptions,
  firstRunProgress,
} from '../options.ts';
import { compileTuned, open, paramSpecs } from '../shared.ts';
import { countForwards } from '../../../runtime/segment.ts';
import { protocolFor } from './infer.ts';

export function register(program: Command, { io, fail }: CommandContext): void {
  graphOptions(
    program
      .command('eval')
      .description(
        'pixAcc and mIoU on a dataset split with the official evaluation protocol (sliding windows, accumulated over the split)',
      )
      .argument('<spec>', '.fcn spec file')
      .requiredOption(
        '--weights <file>',
        'the weights to evaluate (a checkpoint of fcnc train, an official one, safetensors)',
      )
      .requiredOption('--data <root>', 'dataset root (see docs/data.md)')
      .addOption(
        new Option('--format <format>', 'dataset format (default: detected)').choices([...DATA_FORMATS]),
      )
      .addOption(new Option('--split <split>', 'which split').choices(['train', 'val']).default('val'))
      .addOption(
        new Option('--crop <n>', 'window size (official 480; the base size scales with it: 520·crop/480)')
          .argParser(parsePositiveInt('--crop'))
          .default(480),
      )
      .option('--ms', 'multi-scale (0.5–1.75) + flip')
      .addOption(
        new Option('--limit <n>', 'only the first n images of the split').argParser(
          parsePositiveInt('--limit'),
        ),
      )
      .option('--json <file>', 'also write the metrics (and per-class IoU) as JSON')
      .addOption(adapterOption())
      .addOption(tuneOption()),
  ).action(
    async (
      spec: string,
      o: GraphOptions & {
        weights: string;
        data: string;
        format?: DataFormat;
        split: 'train' | 'val';
        crop: number;
        ms?: boolean;
        limit?: number;
        json?: string;
        adapter?: AdapterChoice;
        tune: TuneMode;
      },
    ) => {
      if (o.size || o.batch)
        throw new UsageError('eval runs crop×crop windows (--crop); --size and --batch do not apply');
      const ds = openDataset(o.data, { format: o.format, split: o.split });
      const classes = ds.classes.length;
      if (o.classes !== undefined && o.classes !== classes)
        throw new UsageError(`--classes ${o.classes}, but ${o.data} has ${classes} classes`);
      const r = build(spec, { ...o, classes, size: { height: o.crop, width: o.crop } });
      report(io, r);
      if (!r.graph) {
        fail();
        return;
      }
      const g = r.graph;
      const log = { info: (l: string) => io.err(l + '\n') };
      const { params, source } = await loadParams(paramSpecs(g), { weights: o.weights });
      log.info(source);
      const samples = ds.samples.slice(0, o.limit ?? ds.samples.length);
      const protocol = protocolFor(o.ms, o.crop);
      const dev = await open(o.adapter, log);
      const bar = progressBar(io);
      try {
        const main = { ...g, outputs: [g.outputs[0]!] };
        const session = await Session.create(dev, (await compileTuned(main, dev, o.tune, log)).program, {
          onFirstRun: firstRunProgress(io),
        });
        await session.setParams(params);
        const forward = async (w: Float32Array) =>
          (await session.run(new Map([[g.inputs[0]!.name, w]]))).get(main.outputs[0]!.name)!;
        const metric = new SegmentationMetric(classes);
        let done = 0;
        let total = 0;
        for (const [k, files] of samples.entries()) {
          const { image, label } = loadSample(ds, files);
          if (k === 0) total = countForwards(image.width, image.height, protocol) * samples.length; // an estimate
          const { labels } = await segment(image, classes, forward, protocol, () =>
            bar.update(++done, Math.max(total, done), files.image),
          );
          metric.update(labels, label);
        }
        bar.stop();
        const m = metric.get();
        const rows = ds.classes.map(
          (name, c) =>
            `${String(c).padStart(4)}  ${name.padEnd(24)} ${(100 * m.iou[c]!).toFixed(2).padStart(6)}`,
        );
        io.out(
          [
            `${g.model} on ${o.data} (${ds.format}, ${o.split}, ${samples.length} images, ${protocol.scales.length > 1 ? 'multi-scale + flip' : 'single scale'}, window ${o.crop}):`,
            `pixAcc ${(100 * m.pixAcc).toFixed(2)} %  mIoU ${(100 * m.mIoU).toFixed(2)} %`,
            '',
            'class name                        IoU %',
            ...rows,
            '',
          ].join('\n'),
        );
        if (o.json)
          writeFileSync(
            o.json,
            JSON.stringify(
              {
                model: g.model,
                data: o.data,
                split: o.split,
                images: samples.length,
                ms: !!o.ms,
                crop: o.crop,
                pixAcc: m.pixAcc,
                mIoU: m.mIoU,
                classes: ds.classes,
                iou: m.iou,
              },
              null,
              1,
            ) + '\n',
          );
      } finally {
        bar.stop();
        dev.destroy();
      }
    },
  );
}
