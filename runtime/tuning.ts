// The fixed kernel choices per adapter (KernelOptions.tuning): what a program is compiled with when kernels are not
// chosen by measurement (`--tune off`), and the base under per-problem choices (runtime/tune.ts). Pass the result to
// compile(graph, { tuning }). Software adapters not listed get the emitters' defaults (8×8 register-blocked conv);
// other GPUs the workgroup-tiled conv (and gradients) with the tile the anchors settle on.
import type { OpenedDevice } from './device.ts';

interface Entry {
  /** Matched against the adapter's vendor, architecture, device and description. */
  readonly adapter: RegExp;
  readonly tuning: Readonly<Record<string, number>>;
  /** Where the numbers come from. */
  readonly source: string;
}

/** llvmpipe's fixed defaults (see TABLE). */
export const LLVMPIPE_TUNING: Readonly<Record<string, number>> = {
  'conv2d.variant': 2,
  'conv2d.tm': 16,
  'conv2d.tn': 8,
  'conv2d.large': 64,
  'conv2d.min_workgroups': 4,
  'conv2d.sub': 1,
  'conv2d.gemm_order': 1,
  'conv2d_grad_input.large': 64,
  'conv2d_grad_input.variant': 2,
  'conv2d_grad_weight.large': 64,
  'conv2d_dw.variant': 1,
  'conv2d_dw.tn': 32,
  'conv2d.winograd_wide': 128,
};

const TABLE: readonly Entry[] = [
  {
    adapter: /llvmpipe/i,
    // 3×3 stride-1 and stride-2 convs (rows a multiple of 4): the row-vectorised kernel; the rest (1×1 GEMMs,
    // other strided convs): register-blocked. Layers with at least 64 channels in and out take the large tiles
    // (row-vectorised 16×32 × 2 rows, 16×16 × 4 rows on rows ≤ 16 wide, 16×8 × 8 rows on rows ≤ 8 — at stride 1
    // 8×16 × 4 and 8×8 × 8 rows with the kernel rows of a step unrolled, bench/results/reuse-software.md; 1×1 convs,
    // strided too, 32×32 where that leaves 4 workgroups of tiles, else 16×16, each GEMM step by output channel
    // (`conv2d.gemm_order` 1): bench/results/order-software.md, narrow-software.md, tuning-software.md,
    // gemm-software.md); depthwise convs 32 outputs of a row per invocation (at most the row),
    // read as vec4 rows where they can be (bench/results/depthwise-software.md: 1.8–3.9× faster than the scalar
    // loads of 4 or 8 outputs on the JPU's at 32×32, 1.5–2.4× at 64×64);
    // narrow layers keep the small ones (rows 12×32 or 4×32, register 16×8), which compile in half the time.
    // Strided 1×1 convs (ResNet's downsampling shortcuts): the input subsampled into a dense copy, then the GEMM
    // (bench/results/subsample-software.md: 1.2–1.35× faster than gathering every other column, up to 1.55× in other runs).
    // Workgroups shrink (down to 8 invocations) until a dispatch has 4: llvmpipe runs one workgroup per thread.
    // Gradient kernels: larger register tiles (input 32×16, weight 16×32) on layers with at least 64 channels in
    // and out (bench/results/backward-software.md); narrow layers keep 16×8. Input gradients of stride-1 convs
    // with a kernel wider than 1: the row-vectorised kernel on the transposed weight, with the forward's row tiles
    // (bench/results/backward-software.md: 1.8–1.9× faster on the 3×3 layers; on rows ≤ 16 wide 8 channels with
    // the kernel rows unrolled, bench/results/reuse-grad-software.md); of stride-1 depthwise convs, the
    // forward's depthwise row kernel with the kernel flipped (7× on the JPU's there).
    // 3×3 stride-1 convs on maps at least 128 wide (the stem's at 256², layer1's too at 512²): Winograd F(4×4, 3×3)
    // where it applies (bench/results/winograd-forward-software.md: 1.26–1.58× on the stem's 128² convs; 0.64× on
    // 64² maps, where F(2×2) is within 1.0–1.2× and the row kernel stays).
    tuning: LLVMPIPE_TUNING,
    source:
      'bench/results/winograd-forward-software.md (Winograd F(4×4) on maps at least 128 wide), bench/results/gemm-software.md (1×1 GEMM tiles and step order, on the 1×1 convs of enc_jpu_r101 and enc_dilated_r101), bench/results/subsample-software.md (strided 1×1 convs), bench/results/depthwise-software.md (depthwise row tiles and vec4 row loads), bench/results/tuning-software.md (the tuner against these defaults per conv problem of enc_jpu_r50: strided 1×1), bench/results/order-software.md (tile shapes after the blocked work order and per-accumulator FMA order, on the conv problems of enc_jpu_r50), bench/results/narrow-software.md (several rows per invocation and sized workgroups, on the conv problems of enc_jpu_r101 and enc_dilated_r101) and bench/results/rows-software.md (the row-vectorised default against register 16×8 over the 3×3 convs of four Table 2 networks)',
  },
];

/** What a GPU not in the table compiles with (see GPU_DEFAULT). */
export const GPU_TUNING: Readonly<Record<string, number>> = {
  'conv2d.variant': 1,
  'conv2d.wg_bm': 32,
  'conv2d.wg_bn': 32,
  'conv2d.wg_bk': 8,
  'conv2d.wg_tm': 4,
  'conv2d.wg_tn': 4,
  'conv2d.wg_vec': 4,
  // The gradients likewise (where the tiled kernels apply: input gradients of stride-1 groups-1 convs, every
  // weight gradient but depthwise; elsewhere their register-blocked kernels).
  ...Object.fromEntries(
    (['conv2d_grad_input', 'conv2d_grad_weight'] as const).flatMap((op) => [
      [`${op}.variant`, 1],
      [`${op}.wg_bm`, 32],
      [`${op}.wg_bn`, 32],
      [`${op}.wg_bk`, 8],
      [`${op}.wg_tm`, 4],
      [`${op}.wg_tn`, 4],
      [`${op}.wg_vec`, 4],
    ]),
  ),
};

/** A GPU not in the table. */
const GPU_DEFAULT: Entry = {
  adapter: /.*/,
  tuning: GPU_TUNING,
  source:
    'not measured here: the 32×32 output tile, 64 invocations and 4×4 per invocation tfjs, ORT and TVM settle on (shared/reference/webgpu-ml-anchors.md), for the convs and their gradients; --tune full measures',
};

/** The fixed tuning of an adapter: its table entry, else for a GPU the tiled default, else the emitters' defaults. */
export function tuningFor(
  dev: Pick<OpenedDevice, 'adapterInfo'> & Partial<Pick<OpenedDevice, 'kind'>>,
): Readonly<Record<string, number>> {
  const i = dev.adapterInfo;
  const text = [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' ');
  const hit = TABLE.find((e) => e.adapter.test(text));
  if (hit) return hit.tuning;
  return dev.kind === 'gpu' ? GPU_DEFAULT.tuning : {};
}
