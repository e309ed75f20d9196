// The bar chart of a profile (`fcnc profile --png`): the slowest steps as horizontal bars (ms, coloured by
// module, labelled with the node, kernel and spec line), then the time per module. Drawn with pureimage's canvas
// (rectangles, lines, text in DejaVu Sans, as runtime/visualize.ts does) and encoded as PNG.
import { createRequire } from 'node:module';
import * as PImage from 'pureimage';
import { encodePng } from './image.ts';
import { shortWhere, topRows, type Profile } from './profile.ts';

const require = createRequire(import.meta.url);
let fontLoaded = false;
function ensureFont(): void {
  if (fontLoaded) return;
  PImage.registerFont(require.resolve('dejavu-fonts-ttf/ttf/DejaVuSans.ttf'), 'DejaVuSans').loadSync();
  fontLoaded = true;
}

/** Module colours (Tableau 10), in order of first appearance by time. */
const COLOURS = [
  '#4e79a7',
  '#f28e2b',
  '#59a14f',
  '#e15759',
  '#76b7b2',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#bab0ac',
];

const fmt = (ms: number): string => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** A PNG of the top `top` steps by time and the totals by module. */
export function profileChart(p: Profile, opts: { top?: number } = {}): Buffer {
  ensureFont();
  const rows = topRows(p, opts.top ?? 25);
  const modules = p.byModule;
  const colour = new Map(modules.map((m, i) => [m.name, COLOURS[i % COLOURS.length]!]));

  const labelW = 430;
  const barW = 520;
  const valueW = 130;
  const rowH = 20;
  const width = labelW + barW + valueW + 20;
  const headH = 64;
  const sectionGap = 40;
  const height = headH + rowH * rows.length + sectionGap + rowH * modules.length + 50;
  const canvas = PImage.make(width, height);
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, width, height);

  ctx.fillStyle = '#000000';
  ctx.font = '15px DejaVuSans';
  ctx.fillText(`${p.model} — '${p.entry}': ${fmt(p.stepsMs)} ms in ${p.rows.length} steps`, 10, 20);
  ctx.font = '12px DejaVuSans';
  ctx.fillText(clip(`${p.adapter} · ${p.method} (median of ${p.runs})`, 150), 10, 38);
  ctx.fillText(`slowest ${rows.length} steps, ms (bar colour: module)`, 10, 56);

  const maxMs = Math.max(...rows.map((r) => r.ms), 1e-9);
  const bar = (y: number, ms: number, max: number, fill: string): void => {
    ctx.fillStyle = fill;
    ctx.fillRect(labelW, y + 3, Math.max(1, (barW * ms) / max), rowH - 6);
  };
  // Axis line at the bars' origin.
  const axis = (y0: number, y1: number): void => {
    ctx.strokeStyle = '#888888';
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(labelW - 1, y0);
    ctx.lineTo(labelW - 1, y1);
    ctx.stroke();
  };

  let y = headH;
  axis(y, y + rowH * rows.length);
  for (const r of rows) {
    ctx.fillStyle = '#000000';
    ctx.font = '11px DejaVuSans';
    const fused = r.nodes.length > 1 ? ` +${r.nodes.length - 1}` : '';
    ctx.fillText(clip(`${r.node}${fused}  ${r.kernel}  ${shortWhere(r.where)}`, 68), 8, y + 14);
    bar(y, r.ms, maxMs, colour.get(r.module) ?? '#999999');
    ctx.fillStyle = '#000000';
    const rate = r.gflops !== null ? ` · ${r.gflops.toFixed(1)} GF/s` : '';
    ctx.fillText(`${fmt(r.ms)} ms${rate}`, labelW + Math.max(1, (barW * r.ms) / maxMs) + 6, y + 14);
    y += rowH;
  }

  y += sectionGap - 12;
  ctx.font = '12px DejaVuSans';
  ctx.fillStyle = '#000000';
  ctx.fillText('time by module, ms (share of the sum of steps)', 10, y);
  y += 12;
  const maxMod = Math.max(...modules.map((m) => m.ms), 1e-9);
  axis(y, y + rowH * modules.length);
  for (const m of modules) {
    ctx.fillStyle = '#000000';
    ctx.font = '12px DejaVuSans';
    ctx.fillText(`${m.name} (${m.steps} steps)`, 8, y + 14);
    bar(y, m.ms, maxMod, colour.get(m.name)!);
    ctx.fillStyle = '#000000';
    ctx.fillText(
      `${fmt(m.ms)} ms (${m.pct.toFixed(1)}%)`,
      labelW + Math.max(1, (barW * m.ms) / maxMod) + 6,
      y + 14,
    );
    y += rowH;
  }
  y += 20;
  ctx.font = '11px DejaVuSans';
  ctx.fillStyle = '#444444';
  ctx.fillText(
    `sum of steps ${fmt(p.stepsMs)} ms · whole '${p.entry}' ${fmt(p.wholeMs)} ms (median of ${p.wholeSamples.length})`,
    10,
    y,
  );

  const rgba = canvas.data;
  const rgb = new Uint8Array(width * height * 3);
  for (let k = 0; k < width * height; k++) {
    rgb[k * 3] = rgba[k * 4]!;
    rgb[k * 3 + 1] = rgba[k * 4 + 1]!;
    rgb[k * 3 + 2] = rgba[k * 4 + 2]!;
  }
  return encodePng(width, height, rgb, 3);
}
