// The bar chart of a profile (`fcnc profile --png`): the slowest steps as horizontal bars (ms, coloured by
// module, labelled with the node, kernel and spec line), then the time per module, as two horizontal bar charts of
// runtime/plot.ts (Vega-Lite, rendered by resvg with the DejaVu fonts) in one PNG.
import { barCharts, PALETTE, type BarChartOptions } from './plot.ts';
import { shortWhere, topRows, type Profile } from './profile.ts';

const fmt = (ms: number): string => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** A PNG of the top `top` steps by time and the totals by module. */
export async function profileChart(p: Profile, opts: { top?: number } = {}): Promise<Uint8Array> {
  const rows = topRows(p, opts.top ?? 25);
  const modules = p.byModule;
  // One series per module (in order of time), so each bar takes its module's colour in both charts.
  const colours = modules.map((_, i) => PALETTE[i % PALETTE.length]!);
  const labels = rows.map((r) => {
    const fused = r.nodes.length > 1 ? ` +${r.nodes.length - 1}` : '';
    const rate = r.gflops !== null ? ` · ${r.gflops.toFixed(1)} GF/s` : '';
    // The step number keeps labels distinct (one kernel may run at several steps on the same node).
    return clip(`${r.step}: ${r.node}${fused}  ${r.kernel}  ${shortWhere(r.where)}${rate}`, 90);
  });
  const steps: BarChartOptions = {
    title: `${p.model} — '${p.entry}': ${fmt(p.stepsMs)} ms in ${p.rows.length} steps`,
    subtitle: [
      clip(`${p.adapter} · ${p.method} (median of ${p.runs})`, 150),
      `slowest ${rows.length} steps, ms (bar colour: module)`,
    ],
    horizontal: true,
    stacked: true,
    valueLabels: true,
    categories: labels,
    series: modules.map((m, i) => ({
      name: m.name,
      color: colours[i]!,
      values: rows.map((r) => (r.module === m.name ? r.ms : NaN)),
    })),
    y: { label: 'ms (median)' },
    size: 560,
    labelLimit: 600,
  };
  const byModule: BarChartOptions = {
    title: 'time by module, ms (share of the sum of steps)',
    subtitle: `sum of steps ${fmt(p.stepsMs)} ms · whole '${p.entry}' ${fmt(p.wholeMs)} ms (median of ${p.wholeSamples.length})`,
    horizontal: true,
    stacked: true,
    valueLabels: true,
    categories: modules.map((m) => `${m.name} (${m.steps} steps, ${m.pct.toFixed(1)}%)`),
    series: modules.map((m, i) => ({
      name: m.name,
      color: colours[i]!,
      values: modules.map((x) => (x.name === m.name ? x.ms : NaN)),
    })),
    y: { label: 'ms' },
    size: 560,
    legend: false,
  };
  return barCharts([steps, byModule]);
}
