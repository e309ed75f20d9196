// ===== kernel conv2d_3x3_s2_k12
// conv2d 3×3 stride 2 padding 1 dilation 1 groups 1: x [1, 8, 9, 7] → y [1, 12, 5, 4]
// implicit GEMM; each invocation: 6 output channels × 8 pixels (vec4 weight loads over input channels)
// weights are OHWI (converted from OIHW at load)

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> wt: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> y: array<vec4f>;

const CIN = 8u;  const H = 9u;  const W = 7u;  const PLANE = H * W;
const COUT = 12u;  const HO = 5u;  const WO = 4u;  const PIXELS = HO * WO;
const KSIZE = 3u;  const STRIDE = 2i;  const PAD = 1i;  const DILATION = 1i;
const GROUPS = 1u;  const CIN_G = 8u;  const COUT_G = 12u;
const TM = 6u; // output channels per invocation
const TN = 8u; // output pixels per invocation
const CO_TILES = 2u; // per group
const PIX_TILES = 3u; // per sample
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
  let xbase = ((n) * 8u + grp * CIN_G) * PLANE;
  // Weight row of each output channel (tail channels re-read the group's last row; their results are dropped).
  let w0 = (grp * COUT_G + min(co0 + 0u, COUT_G - 1u)) * WROW;
  let w1 = (grp * COUT_G + min(co0 + 1u, COUT_G - 1u)) * WROW;
  let w2 = (grp * COUT_G + min(co0 + 2u, COUT_G - 1u)) * WROW;
  let w3 = (grp * COUT_G + min(co0 + 3u, COUT_G - 1u)) * WROW;
  let w4 = (grp * COUT_G + min(co0 + 4u, COUT_G - 1u)) * WROW;
  let w5 = (grp * COUT_G + min(co0 + 5u, COUT_G - 1u)) * WROW;
  // Top-left input coordinate of each pixel's window (tail pixels clamp to the last pixel).
  let q0 = min(p0 + 0u, PIXELS - 1u);
  let iy0 = i32(q0 / WO) * STRIDE - PAD;  let ix0 = i32(q0 % WO) * STRIDE - PAD;
  let q1 = min(p0 + 1u, PIXELS - 1u);
  let iy1 = i32(q1 / WO) * STRIDE - PAD;  let ix1 = i32(q1 % WO) * STRIDE - PAD;
  let q2 = min(p0 + 2u, PIXELS - 1u);
  let iy2 = i32(q2 / WO) * STRIDE - PAD;  let ix2 = i32(q2 % WO) * STRIDE - PAD;
  let q3 = min(p0 + 3u, PIXELS - 1u);
  let iy3 = i32(q3 / WO) * STRIDE - PAD;  let ix3 = i32(q3 % WO) * STRIDE - PAD;
  let q4 = min(p0 + 4u, PIXELS - 1u);
  let iy4 = i32(q4 / WO) * STRIDE - PAD;  let ix4 = i32(q4 % WO) * STRIDE - PAD;
  let q5 = min(p0 + 5u, PIXELS - 1u);
  let iy5 = i32(q5 / WO) * STRIDE - PAD;  let ix5 = i32(q5 % WO) * STRIDE - PAD;
  let q6 = min(p0 + 6u, PIXELS - 1u);
  let iy6 = i32(q6 / WO) * STRIDE - PAD;  let ix6 = i32(q6 % WO) * STRIDE - PAD;
  let q7 = min(p0 + 7u, PIXELS - 1u);
  let iy7 = i32(q7 / WO) * STRIDE - PAD;  let ix7 = i32(q7 % WO) * STRIDE - PAD;
  var acc0: array<vec4f, 2>; // channel co0+0, pixels p0 + 4v .. p0 + 4v + 3
  var acc1: array<vec4f, 2>; // channel co0+1, pixels p0 + 4v .. p0 + 4v + 3
  var acc2: array<vec4f, 2>; // channel co0+2, pixels p0 + 4v .. p0 + 4v + 3
  var acc3: array<vec4f, 2>; // channel co0+3, pixels p0 + 4v .. p0 + 4v + 3
  var acc4: array<vec4f, 2>; // channel co0+4, pixels p0 + 4v .. p0 + 4v + 3
  var acc5: array<vec4f, 2>; // channel co0+5, pixels p0 + 4v .. p0 + 4v + 3
  for (var ky = 0u; ky < KSIZE; ky++) {
    for (var kx = 0u; kx < KSIZE; kx++) {
      // Input offset of this tap for each pixel; taps in the zero padding read offset 0 and are masked.
      let ty0 = iy0 + i32(ky) * DILATION;  let tx0 = ix0 + i32(kx) * DILATION;
      let in0 = ty0 >= 0i && ty0 < i32(H) && tx0 >= 0i && tx0 < i32(W);
      let o0 = select(0u, u32(ty0) * W + u32(tx0), in0);
      let ty1 = iy1 + i32(ky) * DILATION;  let tx1 = ix1 + i32(kx) * DILATION;
      let in1 = ty1 >= 0i && ty1 < i32(H) && tx1 >= 0i && tx1 < i32(W);
      let o1 = select(0u, u32(ty1) * W + u32(tx1), in1);
      let ty2 = iy2 + i32(ky) * DILATION;  let tx2 = ix2 + i32(kx) * DILATION;
      let in2 = ty2 >= 0i && ty2 < i32(H) && tx2 >= 0i && tx2 < i32(W);
      let o2 = select(0u, u32(ty2) * W + u32(tx2), in2);
      let ty3 = iy3 + i32(ky) * DILATION;  let tx3 = ix3 + i32(kx) * DILATION;
      let in3 = ty3 >= 0i && ty3 < i32(H) && tx3 >= 0i && tx3 < i32(W);
      let o3 = select(0u, u32(ty3) * W + u32(tx3), in3);
      let ty4 = iy4 + i32(ky) * DILATION;  let tx4 = ix4 + i32(kx) * DILATION;
      let in4 = ty4 >= 0i && ty4 < i32(H) && tx4 >= 0i && tx4 < i32(W);
      let o4 = select(0u, u32(ty4) * W + u32(tx4), in4);
      let ty5 = iy5 + i32(ky) * DILATION;  let tx5 = ix5 + i32(kx) * DILATION;
      let in5 = ty5 >= 0i && ty5 < i32(H) && tx5 >= 0i && tx5 < i32(W);
      let o5 = select(0u, u32(ty5) * W + u32(tx5), in5);
      let ty6 = iy6 + i32(ky) * DILATION;  let tx6 = ix6 + i32(kx) * DILATION;
      let in6 = ty6 >= 0i && ty6 < i32(H) && tx6 >= 0i && tx6 < i32(W);
      let o6 = select(0u, u32(ty6) * W + u32(tx6), in6);
      let ty7 = iy7 + i32(ky) * DILATION;  let tx7 = ix7 + i32(kx) * DILATION;
      let in7 = ty7 >= 0i && ty7 < i32(H) && tx7 >= 0i && tx7 < i32(W);
      let o7 = select(0u, u32(ty7) * W + u32(tx7), in7);
      let mask0 = vec4f(select(0.0, 1.0, in0), select(0.0, 1.0, in1), select(0.0, 1.0, in2), select(0.0, 1.0, in3));
      let mask1 = vec4f(select(0.0, 1.0, in4), select(0.0, 1.0, in5), select(0.0, 1.0, in6), select(0.0, 1.0, in7));
      let tap = (ky * KSIZE + kx) * (CIN_G / 4u);
      for (var c4 = 0u; c4 < CIN_G / 4u; c4++) {
        let wv0 = wt[w0 + tap + c4]; // input channels 4·c4 .. 4·c4+3 of this tap
        let wv1 = wt[w1 + tap + c4]; // input channels 4·c4 .. 4·c4+3 of this tap
        let wv2 = wt[w2 + tap + c4]; // input channels 4·c4 .. 4·c4+3 of this tap
        let wv3 = wt[w3 + tap + c4]; // input channels 4·c4 .. 4·c4+3 of this tap
        let wv4 = wt[w4 + tap + c4]; // input channels 4·c4 .. 4·c4+3 of this tap
        let wv5 = wt[w5 + tap + c4]; // input channels 4·c4 .. 4·c4+3 of this tap
        let xc0 = xbase + (c4 * 4u + 0u) * PLANE;
        let x0_0 = vec4f(x[xc0 + o0], x[xc0 + o1], x[xc0 + o2], x[xc0 + o3]) * mask0;
        let x0_1 = vec4f(x[xc0 + o4], x[xc0 + o5], x[xc0 + o6], x[xc0 + o7]) * mask1;
        let xc1 = xbase + (c4 * 4u + 1u) * PLANE;
        let x1_0 = vec4f(x[xc1 + o0], x[xc1 + o1], x[xc1 + o2], x[xc1 + o3]) * mask0;
        let x1_1 = vec4f(x[xc1 + o4], x[xc1 + o5], x[xc1 + o6], x[xc1 + o7]) * mask1;
        let xc2 = xbase + (c4 * 4u + 2u) * PLANE;
        let x2_0 = vec4f(x[xc2 + o0], x[xc2 + o1], x[xc2 + o2], x[xc2 + o3]) * mask0;
        let x2_1 = vec4f(x[xc2 + o4], x[xc2 + o5], x[xc2 + o6], x[xc2 + o7]) * mask1;
        let xc3 = xbase + (c4 * 4u + 3u) * PLANE;
        let x3_0 = vec4f(x[xc3 + o0], x[xc3 + o1], x[xc3 + o2], x[xc3 + o3]) * mask0;
        let x3_1 = vec4f(x[xc3 + o4], x[xc3 + o5], x[xc3 + o6], x[xc3 + o7]) * mask1;
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
      }
    }
  }
  // Store the tile (bias added), skipping tail channels and pixels.
  if (co0 + 0u < COUT_G) {
    let co = grp * COUT_G + co0 + 0u;
    let ybase = (n * COUT + co) * PIXELS + p0;
    if (p0 + 0u < PIXELS) { store_y(ybase / 4u + 0u, acc0[0]); }
    if (p0 + 4u < PIXELS) { store_y(ybase / 4u + 1u, acc0[1]); }
  }
  if (co0 + 1u < COUT_G) {
    let co = grp * COUT_G + co0 + 1u;
    let ybase = (n * COUT + co) * PIXELS + p0;
    if (p0 + 0u < PIXELS) { store_y(ybase / 4u + 0u, acc1[0]); }
    if (p0 + 4u < PIXELS) { store_y(ybase / 4u + 1u, acc1[1]); }
  }
  if (co0 + 2u < COUT_G) {
    let co = grp * COUT_G + co0 + 2u;
    let ybase = (n * COUT + co) * PIXELS + p0;
    if (p0 + 0u < PIXELS) { store_y(ybase / 4u + 0u, acc2[0]); }
    if (p0 + 4u < PIXELS) { store_y(ybase / 4u + 1u, acc2[1]); }
  }
  if (co0 + 3u < COUT_G) {
    let co = grp * COUT_G + co0 + 3u;
    let ybase = (n * COUT + co) * PIXELS + p0;
    if (p0 + 0u < PIXELS) { store_y(ybase / 4u + 0u, acc3[0]); }
    if (p0 + 4u < PIXELS) { store_y(ybase / 4u + 1u, acc3[1]); }
  }
  if (co0 + 4u < COUT_G) {
    let co = grp * COUT_G + co0 + 4u;
    let ybase = (n * COUT + co) * PIXELS + p0;
    if (p0 + 0u < PIXELS) { store_y(ybase / 4u + 0u, acc4[0]); }
    if (p0 + 4u < PIXELS) { store_y(ybase / 4u + 1u, acc4[1]); }
  }
  if (co0 + 5u < COUT_G) {
    let co = grp * COUT_G + co0 + 5u;
    let ybase = (n * COUT + co) * PIXELS + p0;
    if (p0 + 0u < PIXELS) { store_y(ybase / 4u + 0u, acc5[0]); }
    if (p0 + 4u < PIXELS) { store_y(ybase / 4u + 1u, acc5[1]); }
  }
}
