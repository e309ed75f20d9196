// Helpers shared by the WGSL emitters: literals, binding declarations, and grids larger than the device's
// per-dimension workgroup limit (split into 2-D/3-D with the linear index recomputed in the shader).
import { LoweringError } from '../errors.ts';
import type { KernelBinding, KernelOptions, KernelSpec } from '../../ops/op.ts';
import type { Shape } from '../../ir/types.ts';

/** A WGSL u32 literal. */
export const u = (n: number): string => {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`internal: ${n} is not a u32`);
  return `${n}u`;
};
/** A WGSL i32 literal. */
export const i = (n: number): string => {
  if (!Number.isInteger(n) || Math.abs(n) > 0x7fffffff) throw new Error(`internal: ${n} is not an i32`);
  return `${n}i`;
};
/** A WGSL f32 literal (the shortest decimal that reads back as the same double; WGSL rounds it to f32). */
export const f = (x: number): string => {
  if (!Number.isFinite(x)) throw new Error(`internal: ${x} has no WGSL literal`);
  const s = String(x);
  return /[.eE]/.test(s) ? `${s}f`.replace(/e\+?/i, 'e') : `${s}.0f`;
};

export const numel = (s: Shape): number => s.reduce((a, b) => a * b, 1);

/** One storage buffer of a kernel: its slot in the op's binding list and its name and element type in WGSL. */
export interface Buf {
  readonly slot: KernelBinding;
  readonly name: string;
  readonly elem: 'f32' | 'vec4f' | 'u32';
  readonly write?: boolean;
}

/** `@group(0) @binding(i) var<storage, …> name: array<elem>;` for each buffer, in order. */
export function declare(bufs: readonly Buf[]): string {
  return bufs
    .map(
      (b, k) =>
        `@group(0) @binding(${k}) var<storage, ${b.write ? 'read_write' : 'read'}> ${b.name}: array<${b.elem}>;`,
    )
    .join('\n');
}

/** Splits `workgroups` into a grid whose every dimension is at most `maxDim`. */
export function splitGrid(workgroups: number, maxDim: number): [number, number, number] {
  if (workgroups < 1) return [1, 1, 1];
  const x = Math.min(workgroups, maxDim);
  const rest = Math.ceil(workgroups / x);
  const y = Math.min(rest, maxDim);
  const z = Math.ceil(rest / y);
  if (z > maxDim) throw new Error(`a dispatch of ${workgroups} workgroups exceeds ${maxDim}³`);
  return [x, y, z];
}

/**
 * A 1-D parallel kernel over `total` work items, `wg` invocations per workgroup. Returns the grid and the WGSL
 * that opens `main`: it defines `gid` (the linear work-item index) and returns when it is out of range.
 */
export function linearMain(
  total: number,
  wg: number,
  opts: KernelOptions,
): { grid: [number, number, number]; open: string } {
  if (total > 0xffffffff)
    throw new LoweringError(
      `${total} work items overflow the kernels' 32-bit indices; use a smaller input size or batch`,
    );
  const grid = splitGrid(Math.ceil(total / wg), opts.maxWorkgroupsPerDimension);
  const open = [
    `const WORKGROUP = ${u(wg)};`,
    `const GRID_X = ${u(grid[0])};`,
    `const GRID_Y = ${u(grid[1])};`,
    `const TOTAL = ${u(total)}; // work items`,
    '',
    `@compute @workgroup_size(${wg})`,
    'fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {',
    '  // The grid may be 2-D/3-D when there are more workgroups than one dimension allows.',
    '  let gid = (wid.x + (wid.y + wid.z * GRID_Y) * GRID_X) * WORKGROUP + lid;',
    '  if (gid >= TOTAL) { return; }',
  ].join('\n');
  return { grid, open };
}

/**
 * A kernel with one workgroup per work item (reductions): defines `item` (uniform across the workgroup) and
 * `lid`; returns early for whole workgroups past the end, so barriers stay in uniform control flow.
 */
export function workgroupMain(
  items: number,
  wg: number,
  opts: KernelOptions,
): { grid: [number, number, number]; open: string } {
  const grid = splitGrid(items, opts.maxWorkgroupsPerDimension);
  const open = [
    `const WORKGROUP = ${u(wg)};`,
    `const GRID_X = ${u(grid[0])};`,
    `const GRID_Y = ${u(grid[1])};`,
    `const ITEMS = ${u(items)}; // one workgroup each`,
    '',
    `@compute @workgroup_size(${wg})`,
    'fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {',
    '  let item = wid.x + (wid.y + wid.z * GRID_Y) * GRID_X;',
    '  if (item >= ITEMS) { return; }',
  ].join('\n');
  return { grid, open };
}

/** Assembles a KernelSpec from its parts. */
export function kernelSpec(
  name: string,
  comment: string,
  bufs: readonly Buf[],
  consts: string,
  main: { grid: [number, number, number]; open: string },
  body: string,
  wg: number,
  extra: Pick<KernelSpec, 'paramLayouts'> = {},
  helpers = '',
): KernelSpec {
  const wgsl = [
    comment
      .split('\n')
      .map((l) => `// ${l}`.trimEnd())
      .join('\n'),
    '',
    declare(bufs),
    '',
    consts.trim(),
    ...(helpers ? ['', helpers.trim()] : []),
    main.open,
    body.replace(/\s+$/, ''),
    '}',
    '',
  ].join('\n');
  return {
    wgsl,
    entryPoint: 'main',
    workgroupSize: [wg, 1, 1],
    grid: main.grid,
    bindings: bufs.map((b) => b.slot),
    name,
    ...extra,
  };
}

/** Default workgroup size of the 1-D kernels. */
export const WG = 64;

/** Indents every line of a block by `n` spaces. */
export const indent = (s: string, n: number): string =>
  s
    .split('\n')
    .map((l) => (l ? ' '.repeat(n) + l : l))
    .join('\n');
