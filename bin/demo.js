#!/usr/bin/env node
// `npm run demo`: fcnc end to end in a few minutes on any machine, GPU or not. Each step is an ordinary fcnc
// command, printed before it runs, so every one can be copied and changed:
//   1. a synthetic segmentation dataset (textured shapes of 4 classes over a background, ADE20K layout);
//   2. a narrow EncNet+JPU trained on it (SGD + poly, the aux and SE losses; no augmentation, to learn in minutes);
//   3. its pixAcc and mIoU on the held-out images with the official evaluation protocol;
//   4. the held-out images segmented (label maps, colour maps, overlays with a legend).
// Results go to out/demo/ (replaced on each run): run/curves.png is the loss and mIoU curve.
// `node bin/demo.js --long --record DIR` trains longer and also copies the log, the curves and the metrics to DIR with the time taken
// (bench/demo.bench.ts uses it for bench/results/).
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';

const ROOT = join(dirname(new URL(import.meta.url).pathname), '..');
const OUT = join('out', 'demo');
const DATA = join(OUT, 'data');
const RUN = join(OUT, 'run');
const MODEL = ['specs/enc_jpu_r50.fcn', '--set', 'width=16'];
const CROP = ['--crop', '64'];
const record =
  process.argv.indexOf('--record') > 0 ? process.argv[process.argv.indexOf('--record') + 1] : undefined;
/**
 * The training recipe: narrow (width 16: a quarter of the channels), 64×64 images, batch 8, base learning rate
 * 0.01, no augmentation (the official augmentation needs far more steps than a demo has on a CPU). `--long` trains
 * 4× longer (the recorded run of bench/results/demo-*).
 */
const ITERATIONS = process.argv.includes('--long') ? 1280 : 320;
const TRAIN = [
  '--batch',
  '8',
  '--iterations',
  String(ITERATIONS),
  '--lr',
  '0.01',
  '--no-augment',
  '--eval-every',
  '8',
  '--seed',
  '1',
];

function fcnc(args) {
  process.stderr.write(`\n$ fcnc ${args.join(' ')}\n`);
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'fcnc.js'), ...args], {
    cwd: ROOT,
    stdio: ['inherit', 'inherit', 'inherit'],
  });
  if (r.status !== 0) {
    process.stderr.write(`demo: \`fcnc ${args[0]}\` failed (exit ${r.status ?? r.signal})\n`);
    process.exit(r.status ?? 1);
  }
}

const t0 = Date.now();
const loadAtStart = loadavg()[0];
rmSync(join(ROOT, OUT), { recursive: true, force: true });
fcnc(['data', 'synth', DATA, '--train', '256', '--val', '32', '--seed', '0']);
fcnc(['train', ...MODEL, '--data', DATA, ...CROP, ...TRAIN, '--checkpoint-dir', RUN]);
const metrics = join(OUT, 'metrics.json');
const best = join(RUN, 'model_best.pth.tar');
fcnc(['eval', ...MODEL, '--data', DATA, ...CROP, '--weights', best, '--json', metrics]);
fcnc([
  'infer',
  ...MODEL,
  '--data',
  DATA,
  ...CROP,
  '--weights',
  best,
  join(DATA, 'ADEChallengeData2016', 'images', 'validation'),
  '-o',
  join(OUT, 'segmented'),
]);
const seconds = (Date.now() - t0) / 1000;
const m = JSON.parse(readFileSync(join(ROOT, metrics), 'utf8'));
process.stderr.write(
  `\ndemo: mIoU ${(100 * m.mIoU).toFixed(1)} %, pixAcc ${(100 * m.pixAcc).toFixed(1)} % on ${m.images} held-out images in ${(seconds / 60).toFixed(1)} min.\n` +
    `  curves: ${join(RUN, 'curves.png')}\n  segmentations: ${join(OUT, 'segmented')}/*.overlay.png\n`,
);

if (record) {
  const dir = join(ROOT, record);
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(ROOT, RUN, 'log.jsonl'), join(dir, 'log.jsonl'));
  copyFileSync(join(ROOT, RUN, 'curves.png'), join(dir, 'curves.png'));
  copyFileSync(join(ROOT, metrics), join(dir, 'metrics.json'));
  const overlays = ['synth_val_00001', 'synth_val_00002', 'synth_val_00003'];
  for (const o of overlays)
    copyFileSync(join(ROOT, OUT, 'segmented', `${o}.overlay.png`), join(dir, `${o}.overlay.png`));
  const evals = readFileSync(join(ROOT, RUN, 'log.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.includes('"kind":"eval"'))
    .map((l) => JSON.parse(l));
  const lastEval = evals[evals.length - 1];
  const config = JSON.parse(
    readFileSync(join(ROOT, RUN, 'log.jsonl'), 'utf8')
      .split('\n')
      .find((l) => l.includes('"config"')),
  );
  writeFileSync(
    join(dir, 'README.md'),
    [
      '# The demo run (`npm run demo`)',
      '',
      `Adapter: ${config.adapter.replace(/^using /, '')}. Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}. Date ${new Date().toISOString().slice(0, 10)}.`,
      '',
      `A narrow EncNet+JPU R50 (\`${MODEL.slice(1).join(' ')}\`, ${config.iterations} iterations of batch ${config.batch} at ${config.crop}×${config.crop}, base lr ${config.lr} with the poly schedule, ${config.augment ? 'the official augmentation' : 'no augmentation'}, seed ${config.seed}) trained from scratch on \`fcnc data synth\` (256 training images, 5 classes), then evaluated with the official protocol (\`fcnc eval\`: sliding ${config.crop}×${config.crop} windows over each whole image) on the 32 held-out images:`,
      '',
      `**mIoU ${(100 * m.mIoU).toFixed(2)} %, pixAcc ${(100 * m.pixAcc).toFixed(2)} %**; per class IoU: ${m.classes.map((c, k) => `${c} ${(100 * m.iou[k]).toFixed(1)} %`).join(', ')}.`,
      '',
      `The validation during training (the official training loop's: each held-out image resized so its short side is ${config.crop}, centre crop ${config.crop}×${config.crop}, the scale the network was trained at), after the last step: **mIoU ${(100 * lastEval.mIoU).toFixed(2)} %, pixAcc ${(100 * lastEval.pixAcc).toFixed(2)} %**. The full-image protocol scores lower because it resizes each image's long side to 520·crop/480 = ${Math.round((520 * config.crop) / 480)} px, a smaller scale than the one trained at, and this run has no scale augmentation.`,
      '',
      `Time for the whole run (dataset, training with an evaluation every 8 epochs, evaluation, segmentation): ${(seconds / 60).toFixed(1)} min (load average ${loadAtStart.toFixed(1)} at the start, ${loadavg()[0].toFixed(1)} at the end: other work on the machine slows it).`,
      '',
      "`curves.png` (loss terms, learning rate, validation pixAcc and mIoU per iteration), `log.jsonl` (the run's log), `metrics.json` (the evaluation), and three segmented held-out images (`*.overlay.png`).",
      '',
      '![curves](curves.png)',
      '',
      ...overlays.map((o) => `![${o}](${o}.overlay.png)`),
      '',
    ].join('\n'),
  );
  process.stderr.write(`recorded in ${record}\n`);
}
