// ===== kernel conv2d_gemm_k20
// conv2d 1×1 stride 1 padding 0 dilation 1 groups 1 bias: x [1, 16, 8, 8] → y [1, 20, 8, 8]
// 1×1 conv as a GEMM; each invocation: 7 output channels × 8 pixels (vec4 pixel loads, vec4 weight loads)
// weights are OHWI (converted from OIHW at load)

@group(0) @binding(0) var<storage, read> x: array<vec4f>;
@group(0) @binding(1) var<storage, read> wt: array<vec4f>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<vec4f>;

const CIN = 16u;  const H = 8u;  const W = 8u;  const PLANE = H * W;
const COUT = 20u;  const HO = 8u;  const WO = 8u;  const PIXELS = HO * WO;
const KSIZE = 1u;  const STRIDE = 1i;  const PAD = 0i;  const DILATION = 1i;
const GROUPS = 1u;  const CIN_G = 16u;  const COUT_G = 20u;
const TM = 7u; // output channels per invocation
const TN = 8u; // output pixels per invocation
const CO_TILES = 3u; // per group
const PIX_TILES = 8u; // per sample
const WROW = KSIZE * KSIZE * CIN_G / 4u; // weight vec4s per output channel (OHWI)
const CB = 8u; // output-channel tiles per workgroup block
const PB = 8u; // pixel tiles per workgroup block
const NCB = 1u; // channel blocks per group
const NPB = 1u; // pixel blocks per sample

// Element i of the result (dense index, in vec4s): stores.
fn store_y(i: u32, v0: vec4f) {
  var v = v0;
  y[i] = v;
}
const WORKGROUP = 64u;
const GRID_X = 1u;
const GRID_Y = 1u;
const TOTAL = 64u; // work items

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  // The grid may be 2-D/3-D when there are more workgroups than one dimension allows.
  let gid = (wid.x + (wid.y + wid.z * GRID_Y) * GRID_X) * WORKGROUP + lid;
  if (gid >= TOTAL) { return; }
  // Work item → (sample, group, pixel block, channel block, lane): a workgroup is one block of CB channel
  // tiles × PB pixel tiles, channel tiles fastest; consecutive workgroups take consecutive channel blocks.
  let lane = gid % WORKGROUP;
  let blk = gid / WORKGROUP;
  let ct = (blk % NCB) * CB + lane % CB;
  let pt = ((blk / NCB) % NPB) * PB + lane / CB;
  let grp = (blk / (NCB * NPB)) % GROUPS;
  let n = blk / (NCB * NPB * GROUPS);
  let co0 = ct * TM; // first output channel of the tile, within the group
  let p0 = pt * TN; // first output pixel of the tile
  let xbase = ((n) * 16u + grp * CIN_G) * PLANE;
  // Weight row of each output channel (tail channels re-read the group's last row; their results are dropped).
  let w0 = (grp * COUT_G + min(co0 + 0u, COUT_G - 1u)) * WROW;
  let w1 = (grp * COUT_G + min(co0 + 1u, COUT_G - 1u)) * WROW;
  let w2 = (grp * COUT_G + min(co0 + 2u, COUT_G - 1u)) * WROW;
  let w3 = (grp * COUT_G + min(co0 + 3u, COUT_G - 1u)) * WROW;
  let w4 = (grp * COUT_G + min(co0 + 4u, COUT_G - 1u)) * WROW;
  let w5 = (grp * COUT_G + min(co0 + 5u, COUT_G - 1u)) * WROW;
  let w6 = (grp * COUT_G + min(co0 + 6u, COUT_G - 1u)) * WROW;
  var acc0: array<vec4f, 2>; // channel co0+0, pixels p0 + 4v .. p0 + 4v + 3
  var acc1: array<vec4f, 2>; // channel co0+1, pixels p0 + 4v .. p0 + 4v + 3
  var acc2: array<vec4f, 2>; // channel co0+2, pixels p0 + 4v .. p0 + 4v + 3
  var acc3: array<vec4f, 2>; // channel co0+3, pixels p0 + 4v .. p0 + 4v + 3
  var acc4: array<vec4f, 2>; // channel co0+4, pixels p0 + 4v .. p0 + 4v + 3
  var acc5: array<vec4f, 2>; // channel co0+5, pixels p0 + 4v .. p0 + 4v + 3
  var acc6: array<vec4f, 2>; // channel co0+6, pixels p0 + 4v .. p0 + 4v + 3
  let pv0 = min(p0 / 4u, PLANE / 4u - 1u); // first pixel vec4 (tail tiles clamp)
  for (var c4 = 0u; c4 < CIN_G / 4u; c4++) {
    let wv0 = wt[w0 + c4]; // 4 input channels of output channel co0+0
    let wv1 = wt[w1 + c4]; // 4 input channels of output channel co0+1
    let wv2 = wt[w2 + c4]; // 4 input channels of output channel co0+2
    let wv3 = wt[w3 + c4]; // 4 input channels of output channel co0+3
    let wv4 = wt[w4 + c4]; // 4 input channels of output channel co0+4
    let wv5 = wt[w5 + c4]; // 4 input channels of output channel co0+5
    let wv6 = wt[w6 + c4]; // 4 input channels of output channel co0+6
    let x0_0 = x[(xbase + (c4 * 4u + 0u) * PLANE) / 4u + min(pv0 + 0u, PLANE / 4u - 1u)];
    let x0_1 = x[(xbase + (c4 * 4u + 0u) * PLANE) / 4u + min(pv0 + 1u, PLANE / 4u - 1u)];
    let x1_0 = x[(xbase + (c4 * 4u + 1u) * PLANE) / 4u + min(pv0 + 0u, PLANE / 4u - 1u)];
    let x1_1 = x[(xbase + (c4 * 4u + 1u) * PLANE) / 4u + min(pv0 + 1u, PLANE / 4u - 1u)];
    let x2_0 = x[(xbase + (c4 * 4u + 2u) * PLANE) / 4u + min(pv0 + 0u, PLANE / 4u - 1u)];
    let x2_1 = x[(xbase + (c4 * 4u + 2u) * PLANE) / 4u + min(pv0 + 1u, PLANE / 4u - 1u)];
    let x3_0 = x[(xbase + (c4 * 4u + 3u) * PLANE) / 4u + min(pv0 + 0u, PLANE / 4u - 1u)];
    let x3_1 = x[(xbase + (c4 * 4u + 3u) * PLANE) / 4u + min(pv0 + 1u, PLANE / 4u - 1u)];
    acc0[0] += wv0.x * x0_0 + wv0.y * x1_0 + wv0.z * x2_0 + wv0.w * x3_0;
    acc0[1] += wv0.x * x0_1 + wv0.y * x1_1 + wv0.z * x2_1 + wv0.w * x3_1;
    acc1[0] += wv1.x * x0_0 + wv1.y * x1_0 + wv1.z * x2_0 + wv1.w * x3_0;
    acc1[1] += wv1.x * x0_1 + wv1.y * x1_1 + wv1.z * x2_1 + wv1.w * x3_1;
    acc2[0] += wv2.x * x0_0 + wv2.y * x1_0 + wv2.z * x2_0 + wv2.w * x3_0;
    acc2[1] += wv2.x * x0_1 + wv2.y * x1_1 + wv2.z * x2_1 + wv2.w * x3_1;
    acc3[0] += wv3.x * x0_0 + wv3.y * x1_0 + wv3.z * x2_0 + wv3.w * x3_0;
    acc3[1] += wv3.x * x0_1 + wv3.y * x1_1 + wv3.z * x2_1 + wv3.w * x3_1;
    acc4[0] += wv4.x * x0_0 + wv4.y * x1_0 + wv4.z * x2_0 + wv4.w * x3_0;
    acc4[1] += wv4.x * x0_1 + wv4.y * x1_1 + wv4.z * x2_1 + wv4.w * x3_1;
    acc5[0] += wv5.x * x0_0 + wv5.y * x1_0 + wv5.z * x2_0 + wv5.w * x3_0;
    acc5[1] += wv5.x * x0_1 + wv5.y * x1_1 + wv5.z * x2_1 + wv5.w * x3_1;
    acc6[0] += wv6.x * x0_0 + wv6.y * x1_0 + wv6.z * x2_0 + wv6.w * x3_0;
    acc6[1] += wv6.x * x0_1 + wv6.y * x1_1 + wv6.z * x2_1 + wv6.w * x3_1;
  }
  // Store the tile (bias added), skipping tail channels and pixels.
  if (co0 + 0u < COUT_G) {
    let co = grp * COUT_G + co0 + 0u;
    let ybase = (n * COUT + co) * PIXELS + p0;
    if (p0 + 0u < PIXELS) { store_y(ybase / 4u + 0u, acc0[0] + bias[co]); }
    if (p0 + 4u < PIXELS) { store_y(ybase / 4u + 1u, acc0[1] + bias[co]); }
  }
  if (co0 + 1u < COUT_G) {
    let co = grp * COUT_G + co0 + 1u;
    let ybase = (n * COUT + co) * PIXELS + p0;
    if (p0 + 0u < PIXELS) { store_y(ybase / 4u + 0u, acc1[0] + bias[co]); }
    if (p0 + 4u < PIXELS) { store_y(ybase / 4u + 1u, acc1[1] + bias[co]); }
  }
  if (co0 + 2u < COUT_G) {
    let co = grp * COUT_G + co0 + 2u;
    let ybase = (n * COUT + co) * PIXELS + p0;
    if (p0 + 0u < PIXELS) { store_y(ybase / 4u + 0u, acc2[0] + bias[co]); }
    if (p0 + 4u < PIXELS) { store_y(ybase / 4u + 1u, acc2[1] + bias[co]); }
  }
  if (co0 + 3u < COUT_G) {
    let co = grp * COUT_G + co0 + 3u;
    let ybase = (n * COUT + co) * PIXELS + p0;
    if (p0 + 0u < PIXELS) { store_y(ybase / 4u + 0u, acc3[0] + bias[co]); }
    if (p0 + 4u < PIXELS) { store_y(ybase / 4u + 1u, acc3[1] + bias[co]); }
  }
  if (co0 + 4u < COUT_G) {
    let co = grp * COUT_G + co0 + 4u;
    let ybase = (n * COUT + co) * PIXELS + p0;
    if (p0 + 0u < PIXELS) { store_y(ybase / 4u + 0u, acc4[0] + bias[co]); }
    if (p0 + 4u < PIXELS) { store_y(ybase / 4u + 1u, acc4[1] + bias[co]); }
  }
  if (co0 + 5u < COUT_G) {
    let co = grp * COUT_G + co0 + 5u;
    let ybase = (n * COUT + co) * PIXELS + p0;
    if (p0 + 0u < PIXELS) { store_y(ybase / 4u + 0u, acc5[0] + bias[co]); }
    if (p0 + 4u < PIXELS) { store_y(ybase / 4u + 1u, acc5[1] + bias[co]); }
  }
  if (co0 + 6u < COUT_G) {
    let co = grp * COUT_G + co0 + 6u;
    let ybase = (n * COUT + co) * PIXELS + p0;
    if (p0 + 0u < PIXELS) { store_y(ybase / 4u + 0u, acc6[0] + bias[co]); }
    if (p0 + 4u < PIXELS) { store_y(ybase / 4u + 1u, acc6[1] + bias[co]); }
  }
}
