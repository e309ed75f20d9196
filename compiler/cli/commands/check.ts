// `fcnc check`: parse, check and elaborate spec files; report every error and warning.
import type { Command } from 'commander';
import { hasErrors } from '../../diagnostics.ts';
import { build, graphOptions, report, type CommandContext, type GraphOptions } from '../options.ts';

export function register(program: Command, { io, fail }: CommandContext): void {
  graphOptions(
    program
      .command('check')
      .description('parse, check and elaborate spec files; report every error and warning')
      .argument('<files...>', '.fcn spec files'),
  ).action((files: string[], o: GraphOptions) => {
    for (const f of files) {
      const r = build(f, o, true);
      report(io, r);
      if (hasErrors(r.diagnostics)) fail();
      else
        io.out(
          `${f}: ok${r.graph ? ` (${r.graph.model}: ${r.graph.nodes.length} ops, ${r.graph.params.length} state-dict entries)` : ''}\n`,
        );
    }
  });
}
