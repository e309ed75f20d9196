// Charts (runtime/plot.ts): Vega-Lite → SVG → PNG through resvg with the DejaVu fonts. The PNG is a real image
// of the SVG's size times the scale, with several colours and rendered text; the SVG names what it should;
// equal input gives equal bytes, however many charts were drawn before.
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import {
  barChart,
  barCharts,
  barChartsSvg,
  barChartSvg,
  lineChart,
  lineChartSvg,
  type BarChartOptions,
  type LineChartOptions,
} from '../../runtime/plot.ts';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

const curve = (n: number, f: (i: number) => number): [number, number][] =>
  Array.from({ length: n }, (_, i) => [i * 10, f(i)]);

const LINE: LineChartOptions = {
  title: 'Training curves',
  x: { label: 'iteration' },
  panels: [
    {
      y: { label: 'loss', log: true },
      series: [
        {
          name: 'loss (raw)',
          points: curve(80, (i) => 2 / (1 + i / 10) + 0.2 * (i % 3)),
          color: '#4c78a8',
          faint: true,
        },
        { name: 'loss', points: curve(80, (i) => 2 / (1 + i / 10) + 0.2), color: '#4c78a8' },
        { name: 'auxiliary', points: curve(80, (i) => 0.8 / (1 + i / 10)) },
      ],
    },
    {
      y: { label: 'scores', domain: [0, 1] },
      series: [
        {
          name: 'pixAcc',
          points: [
            [100, 0.5],
            [400, 0.7],
            [790, 0.8],
          ],
        },
        {
          name: 'mIoU',
          points: [
            [100, 0.2],
            [400, 0.35],
            [790, 0.41],
          ],
        },
      ],
    },
  ],
};

const BAR: BarChartOptions = {
  title: 'Frames per second',
  categories: ['r50 512', 'r50 1024', 'r101 512'],
  series: [
    { name: 'fcnc', values: [12.3, 3.4, 7.9] },
    { name: 'PyTorch', values: [15.1, 4.2, 9.3] },
  ],
  y: { label: 'frames per second' },
  valueLabels: true,
};

function svgSize(svg: string): [number, number] {
  const m = /<svg[^>]*\swidth="(\d+(?:\.\d+)?)"[^>]*\sheight="(\d+(?:\.\d+)?)"/.exec(svg);
  expect(m, 'the SVG has a width and height').not.toBeNull();
  return [Number(m![1]), Number(m![2])];
}

/** Distinct colours in the image, and the share of non-white pixels. */
function inspect(png: Uint8Array): { width: number; height: number; colours: Set<number>; ink: number } {
  expect([...png.subarray(0, 8)]).toEqual(PNG_SIGNATURE);
  const img = PNG.sync.read(Buffer.from(png));
  const colours = new Set<number>();
  let ink = 0;
  for (let i = 0; i < img.data.length; i += 4) {
    const [r, g, b] = [img.data[i]!, img.data[i + 1]!, img.data[i + 2]!];
    colours.add((r << 16) | (g << 8) | b);
    if (r < 250 || g < 250 || b < 250) ink++;
  }
  return { width: img.width, height: img.height, colours, ink: ink / (img.width * img.height) };
}

/** Count of pixels close to a colour (anti-aliasing leaves the centre of lines and bars exact or nearly). */
function near(png: Uint8Array, hex: string, tol = 12): number {
  const img = PNG.sync.read(Buffer.from(png));
  const [r, g, b] = [1, 3, 5].map((o) => parseInt(hex.slice(o, o + 2), 16));
  let n = 0;
  for (let i = 0; i < img.data.length; i += 4)
    if (
      Math.abs(img.data[i]! - r!) <= tol &&
      Math.abs(img.data[i + 1]! - g!) <= tol &&
      Math.abs(img.data[i + 2]! - b!) <= tol
    )
      n++;
  return n;
}

describe('lineChart', () => {
  it('SVG names the title, the axes and the legend entries (not the faint series)', async () => {
    const svg = await lineChartSvg(LINE);
    for (const text of ['Training curves', 'iteration', 'loss', 'scores', 'auxiliary', 'pixAcc', 'mIoU'])
      expect(svg).toContain(`>${text}</text>`);
    expect(svg).not.toContain('>loss (raw)</text>');
    expect(svg).toContain('font-family="DejaVu Sans"');
  });

  it('PNG: signature, the SVG size times the scale, drawn in several colours', async () => {
    const svg = await lineChartSvg(LINE);
    const [w, h] = svgSize(svg);
    const png = await lineChart(LINE);
    const img = inspect(png);
    expect([img.width, img.height]).toEqual([Math.round(w * 2), Math.round(h * 2)]);
    expect(img.colours.size).toBeGreaterThan(20);
    expect(img.ink).toBeGreaterThan(0.02);
    expect(img.ink).toBeLessThan(0.6);
    // Both palette colours are drawn (series 1 blue, 'auxiliary' the next free colour, orange).
    expect(near(png, '#4c78a8')).toBeGreaterThan(200);
    expect(near(png, '#f58518')).toBeGreaterThan(200);
    const small = inspect(await lineChart({ ...LINE, scale: 1 }));
    expect([small.width, small.height]).toEqual([Math.round(w), Math.round(h)]);
  });

  it('text is rendered: the title band has dark pixels', async () => {
    const png = await lineChart({ ...LINE, panels: [{ y: { label: 'y' }, series: [] }] });
    const img = PNG.sync.read(Buffer.from(png));
    let dark = 0;
    for (let y = 0; y < 40; y++)
      for (let x = 0; x < img.width; x++) {
        const i = (y * img.width + x) * 4;
        if (img.data[i]! < 80 && img.data[i + 1]! < 80 && img.data[i + 2]! < 80) dark++;
      }
    expect(dark).toBeGreaterThan(100);
  });

  it('is deterministic: equal input, equal SVG and PNG bytes', async () => {
    const [a, b] = [await lineChart(LINE), await lineChart(LINE)];
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(await lineChartSvg(LINE)).toBe(await lineChartSvg(LINE));
  });

  it('leaves out non-finite points and non-positive ones on a log axis; rejects no panels and twin names', async () => {
    const svg = await lineChartSvg({
      title: 't',
      x: { label: 'x' },
      panels: [
        {
          y: { label: 'y', log: true },
          series: [
            {
              name: 's',
              points: [
                [0, 1],
                [1, NaN],
                [2, 0],
                [3, -1],
                [Infinity, 2],
                [4, 2],
              ],
            },
          ],
        },
      ],
    });
    expect(svg).not.toMatch(/NaN|Infinity/);
    await expect(lineChartSvg({ title: 't', x: { label: 'x' }, panels: [] })).rejects.toThrow(/no panels/);
    await expect(
      lineChartSvg({
        title: 't',
        x: { label: 'x' },
        panels: [
          {
            y: { label: 'y' },
            series: [
              { name: 'a', points: [] },
              { name: 'a', points: [] },
            ],
          },
        ],
      }),
    ).rejects.toThrow(/two series named 'a'/);
  });
});

describe('barChart', () => {
  it('SVG names the title, the value axis, the categories, the legend and the values', async () => {
    const svg = await barChartSvg(BAR);
    for (const text of [
      'Frames per second',
      'frames per second',
      'r50 512',
      'r101 512',
      'fcnc',
      'PyTorch',
      '15.1',
    ])
      expect(svg).toContain(`>${text}</text>`);
  });

  it('PNG: size, colours of both series, deterministic', async () => {
    const [w, h] = svgSize(await barChartSvg(BAR));
    const png = await barChart(BAR);
    const img = inspect(png);
    expect([img.width, img.height]).toEqual([Math.round(w * 2), Math.round(h * 2)]);
    expect(near(png, '#4c78a8', 2)).toBeGreaterThan(1000);
    expect(near(png, '#f58518', 2)).toBeGreaterThan(1000);
    expect(Buffer.from(await barChart(BAR)).equals(Buffer.from(png))).toBe(true);
  });

  it('horizontal bars with long labels; a single series has no legend', async () => {
    const opts: BarChartOptions = {
      title: 'ms per kernel',
      horizontal: true,
      categories: ['conv2d_tiled layer1.0.conv1', 'bn_relu layer1.0.bn1', 'upsample bilinear'],
      series: [{ name: 'ms', values: [3.2, 0.4, 0.9] }],
      y: { label: 'milliseconds' },
    };
    const svg = await barChartSvg(opts);
    expect(svg).toContain('>conv2d_tiled layer1.0.conv1</text>');
    expect(svg).toContain('>milliseconds</text>');
    expect(svg).not.toContain('>ms</text>');
    const img = inspect(await barChart(opts));
    expect(img.width).toBeGreaterThan(img.height);
  });

  it('rejects a series whose length is not the number of categories', async () => {
    await expect(barChartSvg({ ...BAR, series: [{ name: 'x', values: [1] }] })).rejects.toThrow(
      /series 'x' has 1 values for 3 categories/,
    );
  });
});

describe('barChart: stacked bars, subtitles, several charts in one image', () => {
  // One finite value per category, one series per group: each bar in its group's colour, full width.
  const STACKED: BarChartOptions = {
    title: 'slowest steps',
    subtitle: ['llvmpipe · sync', 'bar colour: module'],
    horizontal: true,
    stacked: true,
    valueLabels: true,
    categories: ['0: conv1', '1: layer1.0.conv1', '2: head.conv5'],
    series: [
      { name: 'pretrained', values: [3, 2, NaN], color: '#4c78a8' },
      { name: 'head', values: [NaN, NaN, 1.5], color: '#f58518' },
    ],
    y: { label: 'ms' },
  };

  it('stacked: one bar per category in its series colour, as long as its value; the subtitle lines are drawn', async () => {
    const svg = await barChartSvg(STACKED);
    for (const text of ['slowest steps', '0: conv1', '1.5', 'pretrained'])
      expect(svg).toContain(`>${text}</text>`);
    for (const line of ['llvmpipe · sync', 'bar colour: module']) expect(svg).toContain(`>${line}</tspan>`);
    // Three bars, as tall as the band (no side-by-side slots): equal heights.
    const bars = [
      ...svg.matchAll(/<path[^>]*aria-roledescription="bar"[^>]*d="M[\d.]+,[\d.]+h([\d.]+)v([\d.]+)/g),
    ];
    expect(bars).toHaveLength(3);
    const heights = new Set(bars.map((b) => b[2]));
    expect(heights.size).toBe(1);
    const widths = bars.map((b) => Number(b[1]));
    expect(widths[0]! / widths[2]!).toBeCloseTo(2, 1);
    const png = await barChart(STACKED);
    expect(near(png, '#4c78a8', 2)).toBeGreaterThan(1000);
    expect(near(png, '#f58518', 2)).toBeGreaterThan(300);
  });

  it('legend: false hides it; labelLimit keeps long labels whole', async () => {
    const long = 'x'.repeat(70);
    const opts: BarChartOptions = {
      ...STACKED,
      categories: [long, 'b', 'c'],
      legend: false,
      labelLimit: 800,
    };
    const svg = await barChartSvg(opts);
    expect(svg).not.toContain('>head</text>');
    expect(svg).toContain(`>${long}</text>`);
    expect(await barChartSvg({ ...opts, labelLimit: undefined })).not.toContain(`>${long}</text>`);
  });

  it('barCharts: several charts one under the other, each with its own title and legend; deterministic', async () => {
    const svg = await barChartsSvg([BAR, STACKED]);
    for (const text of ['Frames per second', 'slowest steps', 'PyTorch', 'head', 'r50 512', '0: conv1'])
      expect(svg).toContain(`>${text}</text>`);
    const [w, h] = svgSize(svg);
    const [, h1] = svgSize(await barChartSvg(BAR));
    const [, h2] = svgSize(await barChartSvg(STACKED));
    expect(h).toBeGreaterThan(Math.max(h1, h2));
    const png = await barCharts([BAR, STACKED]);
    const img = inspect(png);
    expect([img.width, img.height]).toEqual([Math.round(w * 2), Math.round(h * 2)]);
    expect(Buffer.from(await barCharts([BAR, STACKED])).equals(Buffer.from(png))).toBe(true);
    await expect(barChartsSvg([])).rejects.toThrow(/no charts/);
  });
});
