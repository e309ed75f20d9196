// `fcnc print`: a stage of the compiler as text: the AST (JSON, without spans), the elaborated IR, or the IR after
// any pass of the inference pipeline (`--stage fold_batchnorm`).
import { Option, type Command } from 'commander';
import { hasErrors } from '../../diagnostics.ts';
import { printGraph } from '../../ir/print.ts';
import { INFERENCE, runPipeline } from '../../pipeline.ts';
import { build, graphOptions, report, type CommandContext, type GraphOptions } from '../options.ts';

export function register(program: Command, { io, fail }: CommandContext): void {
  graphOptions(
    program
      .command('print')
      .description('print a stage of the compiler: the AST (JSON), the elaborated IR, or the IR after a pass')
      .addOption(
        new Option('--stage <stage>', 'ast, ir (elaborated), or a pass of the inference pipeline')
          .choices(['ast', 'ir', ...INFERENCE.map((p) => p.name)])
          .default('ir'),
      )
      .argument('<file>', '.fcn spec file'),
  ).action((file: string, o: GraphOptions & { stage: string }) => {
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
    else if (o.stage === 'ir') io.out(printGraph(r.graph!));
    else
      io.out(
        printGraph(runPipeline(r.graph!, INFERENCE, { limits: {} }, { until: o.stage, verify: true }).graph),
      );
  });
}
