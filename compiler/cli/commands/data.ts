// `fcnc data`: the data side of training. `synth` writes a synthetic segmentation dataset in the ADE20K layout;
// `check` validates a dataset (pairs, sizes, label values, decodability) and prints per-split counts and class
// pixel frequencies. Layouts and conventions: docs/data.md.
import { Option, type Command } from 'commander';
import { checkDataset, formatCheckReport } from '../../../runtime/data/check.ts';
import { DATA_FORMATS, type DataFormat } from '../../../runtime/data/datasets.ts';
import { DataError } from '../../../runtime/data/errors.ts';
import { synthDataset } from '../../../runtime/data/synth.ts';
import { parseNonNegativeInt, parsePositiveInt, UsageError, type CommandContext } from '../options.ts';
import { CommandError } from '../shared.ts';

/** DataError → CommandError (`fcnc: message`, exit 1); the message names the file. */
function asCommandError<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof DataError) throw new CommandError(e.message);
    throw e;
  }
}

export function register(program: Command, { io, fail }: CommandContext): void {
  const data = program
    .command('data')
    .description('datasets for training: write a synthetic one (synth), validate one (check)');

  data
    .command('synth')
    .description(
      'write a synthetic segmentation dataset (textured shapes over a background) in the ADE20K layout under OUT',
    )
    .argument('<out>', 'output folder (the dataset goes to OUT/ADEChallengeData2016)')
    .addOption(
      new Option('--train <N>', 'training images').default(64).argParser(parseNonNegativeInt('--train')),
    )
    .addOption(
      new Option('--val <M>', 'validation images').default(16).argParser(parseNonNegativeInt('--val')),
    )
    .addOption(
      new Option('--size <S>', 'nominal image size; sides vary in [0.85·S, 1.3·S]')
        .default(96)
        .argParser(parsePositiveInt('--size')),
    )
    .addOption(
      new Option('--classes <K>', 'classes including the background (2..254)')
        .default(5)
        .argParser(parsePositiveInt('--classes')),
    )
    .addOption(new Option('--seed <X>', 'seed').default(0).argParser(parseNonNegativeInt('--seed')))
    .option('--force', 'replace an existing OUT/ADEChallengeData2016')
    .action(
      (
        out: string,
        o: { train: number; val: number; size: number; classes: number; seed: number; force?: boolean },
      ) => {
        if (o.classes < 2 || o.classes > 254)
          throw new UsageError(
            `--classes must be in 2..254 (8-bit labels, 0 = unlabelled), got ${o.classes}`,
          );
        if (o.size < 8) throw new UsageError(`--size must be at least 8, got ${o.size}`);
        if (o.train + o.val === 0) throw new UsageError('--train and --val are both 0: nothing to write');
        const t = performance.now();
        const r = asCommandError(() => synthDataset(out, o));
        io.out(
          `wrote ${r.train} train + ${r.val} val images (${r.classes.length} classes: ${r.classes.join(', ')}) ` +
            `to ${r.base} in ${((performance.now() - t) / 1000).toFixed(1)} s\n`,
        );
      },
    );

  data
    .command('check')
    .description(
      'validate a dataset: pairs, sizes, label values, decodability; per-split counts and class pixel frequencies',
    )
    .argument('<root>', 'dataset root')
    .addOption(
      new Option('--format <format>', 'dataset format (default: detected from the layout)').choices(
        DATA_FORMATS,
      ),
    )
    .addOption(
      new Option('--split <split>', 'check one split (default: every split present)').choices([
        'train',
        'val',
      ]),
    )
    .option('--json', 'machine-readable report')
    .action((root: string, o: { format?: DataFormat; split?: 'train' | 'val'; json?: boolean }) => {
      let last = -1;
      const r = asCommandError(() =>
        checkDataset(root, {
          format: o.format,
          split: o.split,
          onProgress: (split, done, total) => {
            if (total < 500) return;
            const pct = Math.floor((10 * done) / total);
            if (pct !== last) io.err(`checking ${split}: ${done}/${total}\n`);
            last = pct;
          },
        }),
      );
      if (o.json) {
        const problem = (p: DataError) => ({ kind: p.kind, file: p.file, message: p.message });
        io.out(
          JSON.stringify(
            {
              root: r.root,
              format: r.format,
              classes: r.classes,
              mapping: r.mapping,
              splits: r.splits.map((s) => ({ ...s, problems: s.problems.map(problem) })),
              absent: r.absent,
              problems: r.problems.map(problem),
            },
            null,
            2,
          ) + '\n',
        );
      } else io.out(formatCheckReport(r));
      if (r.problems.length) {
        io.err(`fcnc: ${r.problems.length} problem${r.problems.length === 1 ? '' : 's'} in ${root}\n`);
        fail();
      }
    });
}
