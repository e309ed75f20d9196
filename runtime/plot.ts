// Charts as PNG: line charts with stacked panels (training curves) and grouped bar charts (FPS per variant, ms per
// kernel). A chart is a Vega-Lite spec, compiled to Vega and rendered headless to SVG (no canvas, no DOM), then
// rasterised by resvg with the DejaVu fonts of the `dejavu-fonts-ttf` package passed explicitly (no system
// fonts), so the same input gives the same bytes on every machine.
import { createRequire } from 'node:module';
import { renderAsync } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

const require = createRequire(import.meta.url);
const FONT_FAMILY = 'DejaVu Sans';
const FONT_FILES = ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf', 'DejaVuSans-Oblique.ttf'].map((f) =>
  require.resolve(`dejavu-fonts-ttf/ttf/${f}`),
);

/** Tableau 10, Vega's default categorical scheme, spelled out so series can be given a colour by index. */
export const PALETTE = [
  '#4c78a8',
  '#f58518',
  '#e45756',
  '#72b7b2',
  '#54a24b',
  '#eeca3b',
  '#b279a2',
  '#ff9da6',
  '#9d755d',
  '#bab0ac',
];

export interface LineSeries {
  name: string;
  /** [x, y] pairs; points with a non-finite coordinate (or y ≤ 0 on a log axis) are left out. */
  points: [number, number][];
  /** A CSS colour; by default the panel's next palette colour. */
  color?: string;
  /** Drawn thin and translucent under the other series, and left out of the legend (raw values under a smoothed curve). */
  faint?: boolean;
}

export interface LinePanel {
  y: { label: string; log?: boolean; domain?: [number, number] };
  series: LineSeries[];
}

export interface LineChartOptions {
  title: string;
  x: { label: string };
  /** Stacked top to bottom, sharing the x scale; each with its own y axis and legend. */
  panels: LinePanel[];
  /** Plot-area width of each panel in CSS pixels (default 640). */
  width?: number;
  /** Plot-area height of each panel in CSS pixels (default 200). */
  height?: number;
  /** Pixels per CSS pixel in the PNG (default 2). */
  scale?: number;
}

export interface BarSeries {
  name: string;
  /** One value per category, in the order of `categories`; a non-finite value draws no bar. */
  values: number[];
  color?: string;
}

export interface BarChartOptions {
  title: string;
  /** Smaller lines under the title (what was measured, where). */
  subtitle?: string | string[];
  /** Category labels, drawn in this order. */
  categories: string[];
  /** Bars of the same category are grouped side by side, one per series. */
  series: BarSeries[];
  y: { label: string; log?: boolean };
  /** Bars along x, categories down the y axis (for long labels such as kernel names). */
  horizontal?: boolean;
  /** Write each bar's value at its end. */
  valueLabels?: boolean;
  /**
   * Series stacked along the value axis in one bar per category instead of side by side: with one finite value per
   * category, each bar takes its series' colour (bars coloured by a grouping, e.g. kernels by module).
   */
  stacked?: boolean;
  /** Draw the legend of the series (default: when there is more than one series). */
  legend?: boolean;
  /** The most CSS pixels a category label takes before it is cut with '…' (default 360 horizontal, 200 vertical). */
  labelLimit?: number;
  /** The value axis' length in CSS pixels (default 640 wide, or 320 tall when vertical). */
  size?: number;
  /** Pixels per CSS pixel in the PNG (default 2). */
  scale?: number;
}

const CONFIG = {
  font: FONT_FAMILY,
  background: 'white',
  title: { fontSize: 15, anchor: 'middle' as const, offset: 12 },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal' as const },
  legend: { labelFontSize: 11, titleFontSize: 11, labelLimit: 260 },
  view: { stroke: '#cccccc' },
};

/** Each series' colour: its own, else the next palette colour that no series of the group has taken. */
function defaultColours(series: { color?: string }[]): string[] {
  const taken = new Set(series.flatMap((s) => (s.color ? [s.color.toLowerCase()] : [])));
  const free = PALETTE.filter((c) => !taken.has(c));
  let next = 0;
  return series.map(
    (s) => s.color ?? (free.length ? free[next++ % free.length]! : PALETTE[next++ % PALETTE.length]!),
  );
}

function usable(p: [number, number], log: boolean | undefined): boolean {
  return Number.isFinite(p[0]) && Number.isFinite(p[1]) && (!log || p[1] > 0);
}

function lineSpec(opts: LineChartOptions): TopLevelSpec {
  if (opts.panels.length === 0) throw new Error('lineChart: no panels');
  const width = opts.width ?? 640;
  const height = opts.height ?? 200;
  const last = opts.panels.length - 1;
  const vconcat = opts.panels.map((panel, pi) => {
    const names = panel.series.map((s) => s.name);
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup !== undefined) throw new Error(`lineChart: two series named '${dup}' in panel ${pi}`);
    const colours = defaultColours(panel.series);
    const rows = (faint: boolean) =>
      panel.series.flatMap((s) =>
        (s.faint ?? false) !== faint
          ? []
          : s.points.filter((p) => usable(p, panel.y.log)).map(([x, y]) => ({ x, y, series: s.name })),
      );
    const sparse = panel.series.some((s) => !s.faint && s.points.length > 0 && s.points.length <= 50);
    const yScale: Record<string, unknown> = panel.y.log ? { type: 'log', nice: false } : { zero: false };
    if (panel.y.domain) yScale.domain = panel.y.domain;
    // One legend for both layers (the faint layer's series are left out by `values`): Vega-Lite merges the
    // legends of layers sharing a scale, and a legend disabled in one layer would disable it in both.
    const legend = {
      title: null,
      values: panel.series.filter((s) => !s.faint).map((s) => s.name),
      orient: 'right' as const,
      symbolType: 'stroke',
      symbolOpacity: 1,
      symbolStrokeWidth: 2,
    };
    const encoding = {
      x: {
        field: 'x',
        type: 'quantitative' as const,
        title: pi === last ? opts.x.label : null,
      },
      y: { field: 'y', type: 'quantitative' as const, title: panel.y.label, scale: yScale },
      color: {
        field: 'series',
        type: 'nominal' as const,
        scale: { domain: names, range: colours },
        legend,
      },
      // Keep each series' points in x order whatever the order given.
      order: { field: 'x', type: 'quantitative' as const },
    };
    return {
      width,
      height,
      layer: [
        {
          data: { values: rows(true) },
          mark: { type: 'line' as const, strokeWidth: 1, opacity: 0.25, clip: true },
          encoding,
        },
        {
          data: { values: rows(false) },
          // Sparse series (evaluations every epoch; a single point draws no line) get a dot at each point.
          mark: {
            type: 'line' as const,
            strokeWidth: 2,
            clip: true,
            ...(sparse ? { point: { size: 24 } } : {}),
          },
          encoding,
        },
      ],
    };
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: opts.title,
    config: CONFIG,
    spacing: 18,
    resolve: {
      scale: { x: 'shared', y: 'independent', color: 'independent' },
      legend: { color: 'independent' },
    },
    vconcat,
  } as TopLevelSpec;
}

function barSpec(opts: BarChartOptions): TopLevelSpec {
  const { categories, series } = opts;
  if (categories.length === 0 || series.length === 0) throw new Error('barChart: no categories or no series');
  for (const s of series)
    if (s.values.length !== categories.length)
      throw new Error(
        `barChart: series '${s.name}' has ${s.values.length} values for ${categories.length} categories`,
      );
  const names = series.map((s) => s.name);
  const colours = defaultColours(series);
  const values = series.flatMap((s) =>
    s.values.flatMap((v, i) =>
      Number.isFinite(v) && (!opts.y.log || v > 0)
        ? [{ category: categories[i]!, series: s.name, value: v }]
        : [],
    ),
  );
  const horizontal = opts.horizontal ?? false;
  const cat = horizontal ? 'y' : 'x';
  const val = horizontal ? 'x' : 'y';
  const valueScale: Record<string, unknown> = opts.y.log ? { type: 'log' } : {};
  const step = opts.valueLabels ? 26 : 20;
  const slots = opts.stacked ? 1 : series.length;
  // Rotate category labels that would not fit under their group (DejaVu Sans at 11 px: about 7 px a character).
  const longest = Math.max(...categories.map((c) => c.length));
  const rotate = longest * 7 > step * slots * 0.9;
  const encoding = {
    [cat]: {
      field: 'category',
      type: 'nominal' as const,
      sort: categories,
      title: null,
      scale: { domain: categories, paddingInner: 0.2 },
      axis: horizontal
        ? { labelLimit: opts.labelLimit ?? 360 }
        : { labelAngle: rotate ? -40 : 0, labelLimit: opts.labelLimit ?? 200 },
    },
    ...(opts.stacked
      ? {}
      : {
          [`${cat}Offset`]: {
            field: 'series',
            type: 'nominal' as const,
            sort: names,
            scale: { domain: names },
          },
        }),
    [val]: {
      field: 'value',
      type: 'quantitative' as const,
      title: opts.y.label,
      scale: valueScale,
      ...(opts.stacked ? { stack: 'zero' } : {}),
    },
    color: {
      field: 'series',
      type: 'nominal' as const,
      scale: { domain: names, range: colours },
      legend:
        (opts.legend ?? series.length > 1)
          ? { title: null, orient: horizontal ? ('bottom' as const) : ('right' as const) }
          : null,
    },
  };
  const layer: unknown[] = [{ mark: { type: 'bar' }, encoding }];
  if (opts.valueLabels)
    layer.push({
      mark: {
        type: 'text',
        fontSize: 10,
        ...(horizontal ? { align: 'left', dx: 3, baseline: 'middle' } : { baseline: 'bottom', dy: -2 }),
      },
      encoding: {
        ...encoding,
        color: { value: '#333333' },
        text: { field: 'value', type: 'quantitative', format: '.3~g' },
      },
    });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: chartTitle(opts.title, opts.subtitle),
    config: CONFIG,
    data: { values },
    [horizontal ? 'width' : 'height']: opts.size ?? (horizontal ? 640 : 320),
    [horizontal ? 'height' : 'width']: { step },
    layer,
  } as TopLevelSpec;
}

function chartTitle(text: string, subtitle: string | string[] | undefined): unknown {
  return subtitle === undefined ? text : { text, subtitle, subtitleFontSize: 11, subtitleColor: '#444444' };
}

/** Several bar charts one under the other in one image, each with its own scales and legend. */
function barsSpec(charts: readonly BarChartOptions[], title?: string): TopLevelSpec {
  if (charts.length === 0) throw new Error('barCharts: no charts');
  const vconcat = charts.map((c) => {
    const { $schema: _s, config: _c, ...rest } = barSpec(c) as unknown as Record<string, unknown>;
    void _s;
    void _c;
    return rest;
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    ...(title !== undefined ? { title } : {}),
    config: CONFIG,
    spacing: 36,
    resolve: {
      scale: {
        x: 'independent',
        y: 'independent',
        xOffset: 'independent',
        yOffset: 'independent',
        color: 'independent',
      },
      legend: { color: 'independent' },
    },
    vconcat,
  } as unknown as TopLevelSpec;
}

async function toSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    // Vega numbers clip paths from a process-wide counter; renumber them in order of appearance so that equal
    // charts give equal SVG however many were drawn before.
    const ids = new Map<string, string>();
    return svg.replace(/\bclip\d+\b/g, (id) => {
      let n = ids.get(id);
      if (n === undefined) ids.set(id, (n = `clip${ids.size + 1}`));
      return n;
    });
  } finally {
    view.finalize();
  }
}

async function toPng(svg: string, scale = 2): Promise<Uint8Array> {
  if (!(scale > 0)) throw new Error(`chart scale must be positive, not ${scale}`);
  const img = await renderAsync(svg, {
    font: {
      loadSystemFonts: false,
      fontFiles: FONT_FILES,
      defaultFontFamily: FONT_FAMILY,
      sansSerifFamily: FONT_FAMILY,
    },
    fitTo: { mode: 'zoom', value: scale },
    background: 'white',
    logLevel: 'off',
  });
  const png = img.asPng();
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}

/** The SVG of a line chart: `panels` stacked vertically over a shared x axis, each with a legend of its series. */
export async function lineChartSvg(opts: LineChartOptions): Promise<string> {
  return toSvg(lineSpec(opts));
}

/** A line chart as PNG bytes (see lineChartSvg). */
export async function lineChart(opts: LineChartOptions): Promise<Uint8Array> {
  return toPng(await lineChartSvg(opts), opts.scale);
}

/** The SVG of a grouped bar chart: per category one bar per series. */
export async function barChartSvg(opts: BarChartOptions): Promise<string> {
  return toSvg(barSpec(opts));
}

/** A grouped bar chart as PNG bytes (see barChartSvg). */
export async function barChart(opts: BarChartOptions): Promise<Uint8Array> {
  return toPng(await barChartSvg(opts), opts.scale);
}

/** The SVG of several bar charts stacked top to bottom (each its own title, scales and legend). */
export async function barChartsSvg(
  charts: readonly BarChartOptions[],
  opts: { title?: string } = {},
): Promise<string> {
  return toSvg(barsSpec(charts, opts.title));
}

/** Several bar charts stacked top to bottom as PNG bytes (see barChartsSvg). */
export async function barCharts(
  charts: readonly BarChartOptions[],
  opts: { title?: string; scale?: number } = {},
): Promise<Uint8Array> {
  return toPng(await barChartsSvg(charts, opts), opts.scale);
}
