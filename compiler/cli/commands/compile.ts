// `fcnc compile`: a spec to WGSL kernels, program.json, params.json, a typed model.ts and an infer.ts script.
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { compile } from '../../compile.ts';
import { emitModel } from '../../codegen/emit.ts';
import type { Graph } from '../../ir/types.ts';
import { build, graphOptions, report, type CommandContext, type GraphOptions } from '../options.ts';

export function register(program: Command, { io, argv, fail }: CommandContext): void {
  graphOptions(
    program
      .command('compile')
      .description('compile a spec to WGSL kernels + program.json + a typed model.ts and an infer.ts script')
      .argument('<file>', '.fcn spec file')
      .option('-o, --out <dir>', 'output folder (default: generated/<model>)'),
  ).action(async (file: string, o: GraphOptions & { out?: string }) => {
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

/** The repository's runtime/ folder, which generated code imports from. */
const RUNTIME_DIR = resolve(join(import.meta.dirname, '..', '..', '..', 'runtime'));

export async function compileToDir(g: Graph, outDir: string, command: string): Promise<string[]> {
  return emitModel(g, compile(g), outDir, {
    command,
    runtimeDir: relative(resolve(outDir), RUNTIME_DIR),
  });
}
