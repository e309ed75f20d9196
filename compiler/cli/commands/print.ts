// `fcnc print`: a stage of the compiler as text: the AST (JSON, without spans) or the elaborated IR.
import { Option, type Command } from 'commander';
import { hasErrors } from '../../diagnostics.ts';
import { printGraph } from '../../ir/print.ts';
import { build, graphOptions, report, type CommandContext, type GraphOptions } from '../options.ts';

export function register(program: Command, { io, fail }: CommandContext): void {
  graphOptions(
    program
      .command('print')
      .description('print a stage of the compiler: the AST (JSON) or the elaborated IR (text)')
      .addOption(new Option('--stage <stage>', 'which stage').choices(['ast', 'ir']).default('ir'))
      .argument('<file>', '.fcn spec file'),
  ).action((file: string, o: GraphOptions & { stage: 'ast' | 'ir' }) => {
    const r = build(file, o, o.stage === 'ast');
    report(io, r);
    if (hasErrors(r.diagnostics)) {
      fail();
      return;
    }
    if (o.stage === 'ast')
      io.out(
        JSON.stringify(r.modules, (k, v) => (k === 'span' || k.endsWith('Span') ? undefined : v), 2) + '\n',
      );
    else io.out(printGraph(r.graph!));
  });
}
