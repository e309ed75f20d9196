// `fcnc info`: per-layer shapes, parameters and MACs; totals by module; activation memory (text or JSON).
import type { Command } from 'commander';
import { formatReport, makeReport } from '../../report.ts';
import { compile } from '../../compile.ts';
import { formatPlanReport, planReport } from '../../plan_report.ts';
import { validateInfoJson } from '../../schemas/validate.ts';
import { build, graphOptions, report, type CommandContext, type GraphOptions } from '../options.ts';

export function register(program: Command, { io, fail }: CommandContext): void {
  graphOptions(
    program
      .command('info')
      .description('per-layer shapes, parameters and MACs; totals by module; activation memory')
      .argument('<file>', '.fcn spec file')
      .option('--json', 'print the report as JSON (schema: compiler/schemas/info.schema.json)')
      .option('--no-layers', 'omit the per-layer table')
      .option('--plan', 'also compile it: passes, kernels and dispatches before/after fusion, memory plan'),
  ).action((file: string, o: GraphOptions & { json?: boolean; layers: boolean; plan?: boolean }) => {
    const r = build(file, o);
    report(io, r);
    if (!r.graph) {
      fail();
      return;
    }
    const rep = makeReport(r.graph);
    const plan = o.plan ? planReport(compile(r.graph), compile(r.graph, { mode: 'none' })) : undefined;
    if (o.json) {
      const problems = validateInfoJson(rep);
      if (problems) throw new Error(`internal: info JSON does not match its schema: ${problems}`);
      io.out(JSON.stringify(plan ? { ...rep, plan } : rep, null, 2) + '\n');
    } else {
      io.out(formatReport(rep, { layers: o.layers }));
      if (plan) io.out('\n' + formatPlanReport(plan));
    }
  });
}
