// `fcnc compile`: a spec to WGSL kernels, program.json, params.json, a typed model.ts and an infer.ts script.
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { compile, compileTraining, LoweringError, type TrainCompiled } from '../../compile.ts';
import { emitModel, emitTrainingFiles, writeFiles } from '../../codegen/emit.ts';
import type { Graph } from '../../ir/types.ts';
import { build, graphOptions, report, type CommandContext, type GraphOptions } from '../options.ts';

export function register(program: Command, { io, argv, fail }: CommandContext): void {
  graphOptions(
    program
      .command('compile')
      .description('compile a spec to WGSL kernels + program.json + a typed model.ts and an infer.ts script')
      .argument('<file>', '.fcn spec file')
      .option('-o, --out <dir>', 'output folder (default: generated/<model>)')
      .option(
        '--train',
        'also the training program (train_step + forward) and its memory report, in <out>/train/ (default size 480, batch 16: the official crop and batch)',
      ),
  ).action(async (file: string, o: GraphOptions & { out?: string; train?: boolean }) => {
    if (o.train) {
      const r = build(file, { ...o, size: o.size ?? { height: 480, width: 480 }, batch: o.batch ?? 16 });
      report(io, r);
      if (!r.graph) {
        fail();
        return;
      }
      const outDir = o.out ?? join('generated', r.graph.model);
      const command = ['fcnc', ...argv, ...(o.out ? [] : ['-o', outDir])].join(' ');
      const compiled = compileTrainingAnywhere(r.graph);
      const files = writeFiles(
        await emitTrainingFiles(r.graph, compiled, {
          command,
          runtimeDir: relative(resolve(join(outDir, 'train')), RUNTIME_DIR),
        }),
        join(outDir, 'train'),
      );
      io.out(`${r.graph.model}: wrote ${files.length} files to ${join(outDir, 'train')}\n\n`);
      io.out(readFileSync(join(outDir, 'train', 'report.md'), 'utf8'));
      return;
    }
    const r = build(file, o);
    report(io, r);
    if (!r.graph) {
      fail();
      return;
    }
    const outDir = o.out ?? join('generated', r.graph.model);
    const command = ['fcnc', ...argv, ...(o.out ? [] : ['-o', outDir])].join(' ');
    const files = await compileToDir(r.graph, outDir, command);
    io.out(`${r.graph.model}: wrote ${files.length} files to ${outDir}\n\n`);
    io.out(readFileSync(join(outDir, 'report.md'), 'utf8'));
  });
}

/**
 * The training program for WebGPU's default limits; when a tensor exceeds them (one binding holds 128 MiB there),
 * for a device without that limit, so the program and its memory report exist even where no adapter runs it.
 */
export function compileTrainingAnywhere(g: Graph): TrainCompiled & { note?: string } {
  try {
    return compileTraining(g);
  } catch (e) {
    if (!(e instanceof LoweringError) || !/maxStorageBufferBindingSize|maxBufferSize/.test(e.message))
      throw e;
    const c = compileTraining(g, {
      limits: { maxStorageBufferBindingSize: 2 ** 52, maxBufferSize: 2 ** 52 },
    });
    const largest = Math.max(...c.program.buffers.map((b) => b.bytes));
    return {
      ...c,
      note: `Compiled for a device whose buffers may hold ${(largest / 2 ** 20).toFixed(0)} MiB in one binding (the largest tensor of a step); WebGPU's default limits (128 MiB per binding) do not fit this batch and size.`,
    };
  }
}

/** The repository's runtime/ folder, which generated code imports from. */
const RUNTIME_DIR = resolve(join(import.meta.dirname, '..', '..', '..', 'runtime'));

export async function compileToDir(g: Graph, outDir: string, command: string): Promise<string[]> {
  return emitModel(g, compile(g), outDir, {
    command,
    runtimeDir: relative(resolve(outDir), RUNTIME_DIR),
    specPath: relative(resolve(outDir), resolve(g.file)),
  });
}
