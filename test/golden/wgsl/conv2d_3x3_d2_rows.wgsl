// ===== kernel conv2d_3x3_d2_rows_k10
// conv2d 3×3 stride 1 padding 2 dilation 2 groups 1 bias: x [1, 8, 9, 12] → y [1, 10, 9, 12]
// implicit GEMM over vec4 input rows; each invocation: 4 output channels × 32 pixels of one row (10 vec4 input loads per channel and kernel row)
// weights are OHWI (converted from OIHW at load)

@group(0) @binding(0) var<storage, read> x: array<vec4f>;
@group(0) @binding(1) var<storage, read> wt: array<vec4f>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<vec4f>;

const CIN = 8u;  const H = 9u;  const W = 12u;  const PLANE = H * W;
const COUT = 10u;  const HO = 9u;  const WO = 12u;  const PIXELS = HO * WO;
const KSIZE = 3u;  const STRIDE = 1i;  const PAD = 2i;  const DILATION = 2i;
const GROUPS = 1u;  const CIN_G = 8u;  const COUT_G = 10u;
const TM = 4u; // output channels per invocation
const TN = 32u; // adjacent output pixels of one row per invocation
const CO_TILES = 3u; // per group
const ROW_TILES = 1u; // per output row
const NV = 10u; // vec4s of input row segment per tap row (first needed column at lane 2)
const WROW = KSIZE * KSIZE * CIN_G / 4u; // weight vec4s per output channel (OHWI)

// Element i of the result (dense index, in vec4s): stores.
fn store_y(i: u32, v0: vec4f) {
  var v = v0;
  y[i] = v;
}
const WORKGROUP = 64u;
const GRID_X = 1u;
const GRID_Y = 1u;
const TOTAL = 27u; // work items

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  // The grid may be 2-D/3-D when there are more workgroups than one dimension allows.
  let gid = (wid.x + (wid.y + wid.z * GRID_Y) * GRID_X) * WORKGROUP + lid;
  if (gid >= TOTAL) { return; }
  // Work item → (sample, group, output-channel tile, output row, row tile); row tiles vary fastest.
  let rt = gid % ROW_TILES;
  let oy = (gid / ROW_TILES) % HO;
  let ct = (gid / (ROW_TILES * HO)) % CO_TILES;
  let grp = (gid / (ROW_TILES * HO * CO_TILES)) % GROUPS;
  let n = gid / (ROW_TILES * HO * CO_TILES * GROUPS);
  let co0 = ct * TM;
  let ox0 = rt * TN;
  let xbase = ((n) * 8u + grp * CIN_G) * PLANE;
  let w0 = (grp * COUT_G + min(co0 + 0u, COUT_G - 1u)) * WROW;
  let w1 = (grp * COUT_G + min(co0 + 1u, COUT_G - 1u)) * WROW;
  let w2 = (grp * COUT_G + min(co0 + 2u, COUT_G - 1u)) * WROW;
  let w3 = (grp * COUT_G + min(co0 + 3u, COUT_G - 1u)) * WROW;
  // Input columns of the row segment: c0 + 4v .. c0 + 4v + 3 (c0 = ox0·STRIDE − PAD − 2, a multiple of 4).
  let c0 = i32(ox0) * STRIDE - PAD - 2i;
  let cin0 = c0 + 0i >= 0i && c0 + 0i < i32(W);
  let col0 = u32(select(0i, c0 + 0i, cin0)) / 4u;
  let cin1 = c0 + 4i >= 0i && c0 + 4i < i32(W);
  let col1 = u32(select(0i, c0 + 4i, cin1)) / 4u;
  let cin2 = c0 + 8i >= 0i && c0 + 8i < i32(W);
  let col2 = u32(select(0i, c0 + 8i, cin2)) / 4u;
  let cin3 = c0 + 12i >= 0i && c0 + 12i < i32(W);
  let col3 = u32(select(0i, c0 + 12i, cin3)) / 4u;
  let cin4 = c0 + 16i >= 0i && c0 + 16i < i32(W);
  let col4 = u32(select(0i, c0 + 16i, cin4)) / 4u;
  let cin5 = c0 + 20i >= 0i && c0 + 20i < i32(W);
  let col5 = u32(select(0i, c0 + 20i, cin5)) / 4u;
  let cin6 = c0 + 24i >= 0i && c0 + 24i < i32(W);
  let col6 = u32(select(0i, c0 + 24i, cin6)) / 4u;
  let cin7 = c0 + 28i >= 0i && c0 + 28i < i32(W);
  let col7 = u32(select(0i, c0 + 28i, cin7)) / 4u;
  let cin8 = c0 + 32i >= 0i && c0 + 32i < i32(W);
  let col8 = u32(select(0i, c0 + 32i, cin8)) / 4u;
  let cin9 = c0 + 36i >= 0i && c0 + 36i < i32(W);
  let col9 = u32(select(0i, c0 + 36i, cin9)) / 4u;
  var acc0: array<vec4f, 8>; // channel co0+0, pixels ox0 + 4q .. ox0 + 4q + 3
  var acc1: array<vec4f, 8>; // channel co0+1, pixels ox0 + 4q .. ox0 + 4q + 3
  var acc2: array<vec4f, 8>; // channel co0+2, pixels ox0 + 4q .. ox0 + 4q + 3
  var acc3: array<vec4f, 8>; // channel co0+3, pixels ox0 + 4q .. ox0 + 4q + 3
  for (var ky = 0u; ky < KSIZE; ky++) {
    let iy = i32(oy) * STRIDE - PAD + i32(ky) * DILATION;
    let rin = iy >= 0i && iy < i32(H);
    let roff = u32(select(0i, iy, rin)) * W / 4u;
    let mk0 = select(0.0, 1.0, rin && cin0);
    let mk1 = select(0.0, 1.0, rin && cin1);
    let mk2 = select(0.0, 1.0, rin && cin2);
    let mk3 = select(0.0, 1.0, rin && cin3);
    let mk4 = select(0.0, 1.0, rin && cin4);
    let mk5 = select(0.0, 1.0, rin && cin5);
    let mk6 = select(0.0, 1.0, rin && cin6);
    let mk7 = select(0.0, 1.0, rin && cin7);
    let mk8 = select(0.0, 1.0, rin && cin8);
    let mk9 = select(0.0, 1.0, rin && cin9);
    let tap0 = ky * KSIZE * (CIN_G / 4u);
    for (var c4 = 0u; c4 < CIN_G / 4u; c4++) {
      let wv0_0 = wt[w0 + tap0 + 0u * (CIN_G / 4u) + c4];
      let wv1_0 = wt[w1 + tap0 + 0u * (CIN_G / 4u) + c4];
      let wv2_0 = wt[w2 + tap0 + 0u * (CIN_G / 4u) + c4];
      let wv3_0 = wt[w3 + tap0 + 0u * (CIN_G / 4u) + c4];
      let wv0_1 = wt[w0 + tap0 + 1u * (CIN_G / 4u) + c4];
      let wv1_1 = wt[w1 + tap0 + 1u * (CIN_G / 4u) + c4];
      let wv2_1 = wt[w2 + tap0 + 1u * (CIN_G / 4u) + c4];
      let wv3_1 = wt[w3 + tap0 + 1u * (CIN_G / 4u) + c4];
      let wv0_2 = wt[w0 + tap0 + 2u * (CIN_G / 4u) + c4];
      let wv1_2 = wt[w1 + tap0 + 2u * (CIN_G / 4u) + c4];
      let wv2_2 = wt[w2 + tap0 + 2u * (CIN_G / 4u) + c4];
      let wv3_2 = wt[w3 + tap0 + 2u * (CIN_G / 4u) + c4];
      let xb0 = (xbase + (c4 * 4u + 0u) * PLANE) / 4u + roff;
      let xr0_0 = x[xb0 + col0] * mk0;
      let xr0_1 = x[xb0 + col1] * mk1;
      let xr0_2 = x[xb0 + col2] * mk2;
      let xr0_3 = x[xb0 + col3] * mk3;
      let xr0_4 = x[xb0 + col4] * mk4;
      let xr0_5 = x[xb0 + col5] * mk5;
      let xr0_6 = x[xb0 + col6] * mk6;
      let xr0_7 = x[xb0 + col7] * mk7;
      let xr0_8 = x[xb0 + col8] * mk8;
      let xr0_9 = x[xb0 + col9] * mk9;
      let xb1 = (xbase + (c4 * 4u + 1u) * PLANE) / 4u + roff;
      let xr1_0 = x[xb1 + col0] * mk0;
      let xr1_1 = x[xb1 + col1] * mk1;
      let xr1_2 = x[xb1 + col2] * mk2;
      let xr1_3 = x[xb1 + col3] * mk3;
      let xr1_4 = x[xb1 + col4] * mk4;
      let xr1_5 = x[xb1 + col5] * mk5;
      let xr1_6 = x[xb1 + col6] * mk6;
      let xr1_7 = x[xb1 + col7] * mk7;
      let xr1_8 = x[xb1 + col8] * mk8;
      let xr1_9 = x[xb1 + col9] * mk9;
      let xb2 = (xbase + (c4 * 4u + 2u) * PLANE) / 4u + roff;
      let xr2_0 = x[xb2 + col0] * mk0;
      let xr2_1 = x[xb2 + col1] * mk1;
      let xr2_2 = x[xb2 + col2] * mk2;
      let xr2_3 = x[xb2 + col3] * mk3;
      let xr2_4 = x[xb2 + col4] * mk4;
      let xr2_5 = x[xb2 + col5] * mk5;
      let xr2_6 = x[xb2 + col6] * mk6;
      let xr2_7 = x[xb2 + col7] * mk7;
      let xr2_8 = x[xb2 + col8] * mk8;
      let xr2_9 = x[xb2 + col9] * mk9;
      let xb3 = (xbase + (c4 * 4u + 3u) * PLANE) / 4u + roff;
      let xr3_0 = x[xb3 + col0] * mk0;
      let xr3_1 = x[xb3 + col1] * mk1;
      let xr3_2 = x[xb3 + col2] * mk2;
      let xr3_3 = x[xb3 + col3] * mk3;
      let xr3_4 = x[xb3 + col4] * mk4;
      let xr3_5 = x[xb3 + col5] * mk5;
      let xr3_6 = x[xb3 + col6] * mk6;
      let xr3_7 = x[xb3 + col7] * mk7;
      let xr3_8 = x[xb3 + col8] * mk8;
      let xr3_9 = x[xb3 + col9] * mk9;
      let s0_0_0 = vec4f(xr0_0.z, xr0_0.w, xr0_1.x, xr0_1.y);
      let s0_0_1 = vec4f(xr0_1.z, xr0_1.w, xr0_2.x, xr0_2.y);
      let s0_0_2 = vec4f(xr0_2.z, xr0_2.w, xr0_3.x, xr0_3.y);
      let s0_0_3 = vec4f(xr0_3.z, xr0_3.w, xr0_4.x, xr0_4.y);
      let s0_0_4 = vec4f(xr0_4.z, xr0_4.w, xr0_5.x, xr0_5.y);
      let s0_0_5 = vec4f(xr0_5.z, xr0_5.w, xr0_6.x, xr0_6.y);
      let s0_0_6 = vec4f(xr0_6.z, xr0_6.w, xr0_7.x, xr0_7.y);
      let s0_0_7 = vec4f(xr0_7.z, xr0_7.w, xr0_8.x, xr0_8.y);
      let s0_1_0 = xr0_1;
      let s0_1_1 = xr0_2;
      let s0_1_2 = xr0_3;
      let s0_1_3 = xr0_4;
      let s0_1_4 = xr0_5;
      let s0_1_5 = xr0_6;
      let s0_1_6 = xr0_7;
      let s0_1_7 = xr0_8;
      let s0_2_0 = vec4f(xr0_1.z, xr0_1.w, xr0_2.x, xr0_2.y);
      let s0_2_1 = vec4f(xr0_2.z, xr0_2.w, xr0_3.x, xr0_3.y);
      let s0_2_2 = vec4f(xr0_3.z, xr0_3.w, xr0_4.x, xr0_4.y);
      let s0_2_3 = vec4f(xr0_4.z, xr0_4.w, xr0_5.x, xr0_5.y);
      let s0_2_4 = vec4f(xr0_5.z, xr0_5.w, xr0_6.x, xr0_6.y);
      let s0_2_5 = vec4f(xr0_6.z, xr0_6.w, xr0_7.x, xr0_7.y);
      let s0_2_6 = vec4f(xr0_7.z, xr0_7.w, xr0_8.x, xr0_8.y);
      let s0_2_7 = vec4f(xr0_8.z, xr0_8.w, xr0_9.x, xr0_9.y);
      let s1_0_0 = vec4f(xr1_0.z, xr1_0.w, xr1_1.x, xr1_1.y);
      let s1_0_1 = vec4f(xr1_1.z, xr1_1.w, xr1_2.x, xr1_2.y);
      let s1_0_2 = vec4f(xr1_2.z, xr1_2.w, xr1_3.x, xr1_3.y);
      let s1_0_3 = vec4f(xr1_3.z, xr1_3.w, xr1_4.x, xr1_4.y);
      let s1_0_4 = vec4f(xr1_4.z, xr1_4.w, xr1_5.x, xr1_5.y);
      let s1_0_5 = vec4f(xr1_5.z, xr1_5.w, xr1_6.x, xr1_6.y);
      let s1_0_6 = vec4f(xr1_6.z, xr1_6.w, xr1_7.x, xr1_7.y);
      let s1_0_7 = vec4f(xr1_7.z, xr1_7.w, xr1_8.x, xr1_8.y);
      let s1_1_0 = xr1_1;
      let s1_1_1 = xr1_2;
      let s1_1_2 = xr1_3;
      let s1_1_3 = xr1_4;
      let s1_1_4 = xr1_5;
      let s1_1_5 = xr1_6;
      let s1_1_6 = xr1_7;
      let s1_1_7 = xr1_8;
      let s1_2_0 = vec4f(xr1_1.z, xr1_1.w, xr1_2.x, xr1_2.y);
      let s1_2_1 = vec4f(xr1_2.z, xr1_2.w, xr1_3.x, xr1_3.y);
      let s1_2_2 = vec4f(xr1_3.z, xr1_3.w, xr1_4.x, xr1_4.y);
      let s1_2_3 = vec4f(xr1_4.z, xr1_4.w, xr1_5.x, xr1_5.y);
      let s1_2_4 = vec4f(xr1_5.z, xr1_5.w, xr1_6.x, xr1_6.y);
      let s1_2_5 = vec4f(xr1_6.z, xr1_6.w, xr1_7.x, xr1_7.y);
      let s1_2_6 = vec4f(xr1_7.z, xr1_7.w, xr1_8.x, xr1_8.y);
      let s1_2_7 = vec4f(xr1_8.z, xr1_8.w, xr1_9.x, xr1_9.y);
      let s2_0_0 = vec4f(xr2_0.z, xr2_0.w, xr2_1.x, xr2_1.y);
      let s2_0_1 = vec4f(xr2_1.z, xr2_1.w, xr2_2.x, xr2_2.y);
      let s2_0_2 = vec4f(xr2_2.z, xr2_2.w, xr2_3.x, xr2_3.y);
      let s2_0_3 = vec4f(xr2_3.z, xr2_3.w, xr2_4.x, xr2_4.y);
      let s2_0_4 = vec4f(xr2_4.z, xr2_4.w, xr2_5.x, xr2_5.y);
      let s2_0_5 = vec4f(xr2_5.z, xr2_5.w, xr2_6.x, xr2_6.y);
      let s2_0_6 = vec4f(xr2_6.z, xr2_6.w, xr2_7.x, xr2_7.y);
      let s2_0_7 = vec4f(xr2_7.z, xr2_7.w, xr2_8.x, xr2_8.y);
      let s2_1_0 = xr2_1;
      let s2_1_1 = xr2_2;
      let s2_1_2 = xr2_3;
      let s2_1_3 = xr2_4;
      let s2_1_4 = xr2_5;
      let s2_1_5 = xr2_6;
      let s2_1_6 = xr2_7;
      let s2_1_7 = xr2_8;
      let s2_2_0 = vec4f(xr2_1.z, xr2_1.w, xr2_2.x, xr2_2.y);
      let s2_2_1 = vec4f(xr2_2.z, xr2_2.w, xr2_3.x, xr2_3.y);
      let s2_2_2 = vec4f(xr2_3.z, xr2_3.w, xr2_4.x, xr2_4.y);
      let s2_2_3 = vec4f(xr2_4.z, xr2_4.w, xr2_5.x, xr2_5.y);
      let s2_2_4 = vec4f(xr2_5.z, xr2_5.w, xr2_6.x, xr2_6.y);
      let s2_2_5 = vec4f(xr2_6.z, xr2_6.w, xr2_7.x, xr2_7.y);
      let s2_2_6 = vec4f(xr2_7.z, xr2_7.w, xr2_8.x, xr2_8.y);
      let s2_2_7 = vec4f(xr2_8.z, xr2_8.w, xr2_9.x, xr2_9.y);
      let s3_0_0 = vec4f(xr3_0.z, xr3_0.w, xr3_1.x, xr3_1.y);
      let s3_0_1 = vec4f(xr3_1.z, xr3_1.w, xr3_2.x, xr3_2.y);
      let s3_0_2 = vec4f(xr3_2.z, xr3_2.w, xr3_3.x, xr3_3.y);
      let s3_0_3 = vec4f(xr3_3.z, xr3_3.w, xr3_4.x, xr3_4.y);
      let s3_0_4 = vec4f(xr3_4.z, xr3_4.w, xr3_5.x, xr3_5.y);
      let s3_0_5 = vec4f(xr3_5.z, xr3_5.w, xr3_6.x, xr3_6.y);
      let s3_0_6 = vec4f(xr3_6.z, xr3_6.w, xr3_7.x, xr3_7.y);
      let s3_0_7 = vec4f(xr3_7.z, xr3_7.w, xr3_8.x, xr3_8.y);
      let s3_1_0 = xr3_1;
      let s3_1_1 = xr3_2;
      let s3_1_2 = xr3_3;
      let s3_1_3 = xr3_4;
      let s3_1_4 = xr3_5;
      let s3_1_5 = xr3_6;
      let s3_1_6 = xr3_7;
      let s3_1_7 = xr3_8;
      let s3_2_0 = vec4f(xr3_1.z, xr3_1.w, xr3_2.x, xr3_2.y);
      let s3_2_1 = vec4f(xr3_2.z, xr3_2.w, xr3_3.x, xr3_3.y);
      let s3_2_2 = vec4f(xr3_3.z, xr3_3.w, xr3_4.x, xr3_4.y);
      let s3_2_3 = vec4f(xr3_4.z, xr3_4.w, xr3_5.x, xr3_5.y);
      let s3_2_4 = vec4f(xr3_5.z, xr3_5.w, xr3_6.x, xr3_6.y);
      let s3_2_5 = vec4f(xr3_6.z, xr3_6.w, xr3_7.x, xr3_7.y);
      let s3_2_6 = vec4f(xr3_7.z, xr3_7.w, xr3_8.x, xr3_8.y);
      let s3_2_7 = vec4f(xr3_8.z, xr3_8.w, xr3_9.x, xr3_9.y);
      acc0[0] += wv0_0.x * s0_0_0 + wv0_1.x * s0_1_0 + wv0_2.x * s0_2_0 + wv0_0.y * s1_0_0 + wv0_1.y * s1_1_0 + wv0_2.y * s1_2_0 + wv0_0.z * s2_0_0 + wv0_1.z * s2_1_0 + wv0_2.z * s2_2_0 + wv0_0.w * s3_0_0 + wv0_1.w * s3_1_0 + wv0_2.w * s3_2_0;
      acc0[1] += wv0_0.x * s0_0_1 + wv0_1.x * s0_1_1 + wv0_2.x * s0_2_1 + wv0_0.y * s1_0_1 + wv0_1.y * s1_1_1 + wv0_2.y * s1_2_1 + wv0_0.z * s2_0_1 + wv0_1.z * s2_1_1 + wv0_2.z * s2_2_1 + wv0_0.w * s3_0_1 + wv0_1.w * s3_1_1 + wv0_2.w * s3_2_1;
      acc0[2] += wv0_0.x * s0_0_2 + wv0_1.x * s0_1_2 + wv0_2.x * s0_2_2 + wv0_0.y * s1_0_2 + wv0_1.y * s1_1_2 + wv0_2.y * s1_2_2 + wv0_0.z * s2_0_2 + wv0_1.z * s2_1_2 + wv0_2.z * s2_2_2 + wv0_0.w * s3_0_2 + wv0_1.w * s3_1_2 + wv0_2.w * s3_2_2;
      acc0[3] += wv0_0.x * s0_0_3 + wv0_1.x * s0_1_3 + wv0_2.x * s0_2_3 + wv0_0.y * s1_0_3 + wv0_1.y * s1_1_3 + wv0_2.y * s1_2_3 + wv0_0.z * s2_0_3 + wv0_1.z * s2_1_3 + wv0_2.z * s2_2_3 + wv0_0.w * s3_0_3 + wv0_1.w * s3_1_3 + wv0_2.w * s3_2_3;
      acc0[4] += wv0_0.x * s0_0_4 + wv0_1.x * s0_1_4 + wv0_2.x * s0_2_4 + wv0_0.y * s1_0_4 + wv0_1.y * s1_1_4 + wv0_2.y * s1_2_4 + wv0_0.z * s2_0_4 + wv0_1.z * s2_1_4 + wv0_2.z * s2_2_4 + wv0_0.w * s3_0_4 + wv0_1.w * s3_1_4 + wv0_2.w * s3_2_4;
      acc0[5] += wv0_0.x * s0_0_5 + wv0_1.x * s0_1_5 + wv0_2.x * s0_2_5 + wv0_0.y * s1_0_5 + wv0_1.y * s1_1_5 + wv0_2.y * s1_2_5 + wv0_0.z * s2_0_5 + wv0_1.z * s2_1_5 + wv0_2.z * s2_2_5 + wv0_0.w * s3_0_5 + wv0_1.w * s3_1_5 + wv0_2.w * s3_2_5;
      acc0[6] += wv0_0.x * s0_0_6 + wv0_1.x * s0_1_6 + wv0_2.x * s0_2_6 + wv0_0.y * s1_0_6 + wv0_1.y * s1_1_6 + wv0_2.y * s1_2_6 + wv0_0.z * s2_0_6 + wv0_1.z * s2_1_6 + wv0_2.z * s2_2_6 + wv0_0.w * s3_0_6 + wv0_1.w * s3_1_6 + wv0_2.w * s3_2_6;
      acc0[7] += wv0_0.x * s0_0_7 + wv0_1.x * s0_1_7 + wv0_2.x * s0_2_7 + wv0_0.y * s1_0_7 + wv0_1.y * s1_1_7 + wv0_2.y * s1_2_7 + wv0_0.z * s2_0_7 + wv0_1.z * s2_1_7 + wv0_2.z * s2_2_7 + wv0_0.w * s3_0_7 + wv0_1.w * s3_1_7 + wv0_2.w * s3_2_7;
      acc1[0] += wv1_0.x * s0_0_0 + wv1_1.x * s0_1_0 + wv1_2.x * s0_2_0 + wv1_0.y * s1_0_0 + wv1_1.y * s1_1_0 + wv1_2.y * s1_2_0 + wv1_0.z * s2_0_0 + wv1_1.z * s2_1_0 + wv1_2.z * s2_2_0 + wv1_0.w * s3_0_0 + wv1_1.w * s3_1_0 + wv1_2.w * s3_2_0;
      acc1[1] += wv1_0.x * s0_0_1 + wv1_1.x * s0_1_1 + wv1_2.x * s0_2_1 + wv1_0.y * s1_0_1 + wv1_1.y * s1_1_1 + wv1_2.y * s1_2_1 + wv1_0.z * s2_0_1 + wv1_1.z * s2_1_1 + wv1_2.z * s2_2_1 + wv1_0.w * s3_0_1 + wv1_1.w * s3_1_1 + wv1_2.w * s3_2_1;
      acc1[2] += wv1_0.x * s0_0_2 + wv1_1.x * s0_1_2 + wv1_2.x * s0_2_2 + wv1_0.y * s1_0_2 + wv1_1.y * s1_1_2 + wv1_2.y * s1_2_2 + wv1_0.z * s2_0_2 + wv1_1.z * s2_1_2 + wv1_2.z * s2_2_2 + wv1_0.w * s3_0_2 + wv1_1.w * s3_1_2 + wv1_2.w * s3_2_2;
      acc1[3] += wv1_0.x * s0_0_3 + wv1_1.x * s0_1_3 + wv1_2.x * s0_2_3 + wv1_0.y * s1_0_3 + wv1_1.y * s1_1_3 + wv1_2.y * s1_2_3 + wv1_0.z * s2_0_3 + wv1_1.z * s2_1_3 + wv1_2.z * s2_2_3 + wv1_0.w * s3_0_3 + wv1_1.w * s3_1_3 + wv1_2.w * s3_2_3;
      acc1[4] += wv1_0.x * s0_0_4 + wv1_1.x * s0_1_4 + wv1_2.x * s0_2_4 + wv1_0.y * s1_0_4 + wv1_1.y * s1_1_4 + wv1_2.y * s1_2_4 + wv1_0.z * s2_0_4 + wv1_1.z * s2_1_4 + wv1_2.z * s2_2_4 + wv1_0.w * s3_0_4 + wv1_1.w * s3_1_4 + wv1_2.w * s3_2_4;
      acc1[5] += wv1_0.x * s0_0_5 + wv1_1.x * s0_1_5 + wv1_2.x * s0_2_5 + wv1_0.y * s1_0_5 + wv1_1.y * s1_1_5 + wv1_2.y * s1_2_5 + wv1_0.z * s2_0_5 + wv1_1.z * s2_1_5 + wv1_2.z * s2_2_5 + wv1_0.w * s3_0_5 + wv1_1.w * s3_1_5 + wv1_2.w * s3_2_5;
      acc1[6] += wv1_0.x * s0_0_6 + wv1_1.x * s0_1_6 + wv1_2.x * s0_2_6 + wv1_0.y * s1_0_6 + wv1_1.y * s1_1_6 + wv1_2.y * s1_2_6 + wv1_0.z * s2_0_6 + wv1_1.z * s2_1_6 + wv1_2.z * s2_2_6 + wv1_0.w * s3_0_6 + wv1_1.w * s3_1_6 + wv1_2.w * s3_2_6;
      acc1[7] += wv1_0.x * s0_0_7 + wv1_1.x * s0_1_7 + wv1_2.x * s0_2_7 + wv1_0.y * s1_0_7 + wv1_1.y * s1_1_7 + wv1_2.y * s1_2_7 + wv1_0.z * s2_0_7 + wv1_1.z * s2_1_7 + wv1_2.z * s2_2_7 + wv1_0.w * s3_0_7 + wv1_1.w * s3_1_7 + wv1_2.w * s3_2_7;
      acc2[0] += wv2_0.x * s0_0_0 + wv2_1.x * s0_1_0 + wv2_2.x * s0_2_0 + wv2_0.y * s1_0_0 + wv2_1.y * s1_1_0 + wv2_2.y * s1_2_0 + wv2_0.z * s2_0_0 + wv2_1.z * s2_1_0 + wv2_2.z * s2_2_0 + wv2_0.w * s3_0_0 + wv2_1.w * s3_1_0 + wv2_2.w * s3_2_0;
      acc2[1] += wv2_0.x * s0_0_1 + wv2_1.x * s0_1_1 + wv2_2.x * s0_2_1 + wv2_0.y * s1_0_1 + wv2_1.y * s1_1_1 + wv2_2.y * s1_2_1 + wv2_0.z * s2_0_1 + wv2_1.z * s2_1_1 + wv2_2.z * s2_2_1 + wv2_0.w * s3_0_1 + wv2_1.w * s3_1_1 + wv2_2.w * s3_2_1;
      acc2[2] += wv2_0.x * s0_0_2 + wv2_1.x * s0_1_2 + wv2_2.x * s0_2_2 + wv2_0.y * s1_0_2 + wv2_1.y * s1_1_2 + wv2_2.y * s1_2_2 + wv2_0.z * s2_0_2 + wv2_1.z * s2_1_2 + wv2_2.z * s2_2_2 + wv2_0.w * s3_0_2 + wv2_1.w * s3_1_2 + wv2_2.w * s3_2_2;
      acc2[3] += wv2_0.x * s0_0_3 + wv2_1.x * s0_1_3 + wv2_2.x * s0_2_3 + wv2_0.y * s1_0_3 + wv2_1.y * s1_1_3 + wv2_2.y * s1_2_3 + wv2_0.z * s2_0_3 + wv2_1.z * s2_1_3 + wv2_2.z * s2_2_3 + wv2_0.w * s3_0_3 + wv2_1.w * s3_1_3 + wv2_2.w * s3_2_3;
      acc2[4] += wv2_0.x * s0_0_4 + wv2_1.x * s0_1_4 + wv2_2.x * s0_2_4 + wv2_0.y * s1_0_4 + wv2_1.y * s1_1_4 + wv2_2.y * s1_2_4 + wv2_0.z * s2_0_4 + wv2_1.z * s2_1_4 + wv2_2.z * s2_2_4 + wv2_0.w * s3_0_4 + wv2_1.w * s3_1_4 + wv2_2.w * s3_2_4;
      acc2[5] += wv2_0.x * s0_0_5 + wv2_1.x * s0_1_5 + wv2_2.x * s0_2_5 + wv2_0.y * s1_0_5 + wv2_1.y * s1_1_5 + wv2_2.y * s1_2_5 + wv2_0.z * s2_0_5 + wv2_1.z * s2_1_5 + wv2_2.z * s2_2_5 + wv2_0.w * s3_0_5 + wv2_1.w * s3_1_5 + wv2_2.w * s3_2_5;
      acc2[6] += wv2_0.x * s0_0_6 + wv2_1.x * s0_1_6 + wv2_2.x * s0_2_6 + wv2_0.y * s1_0_6 + wv2_1.y * s1_1_6 + wv2_2.y * s1_2_6 + wv2_0.z * s2_0_6 + wv2_1.z * s2_1_6 + wv2_2.z * s2_2_6 + wv2_0.w * s3_0_6 + wv2_1.w * s3_1_6 + wv2_2.w * s3_2_6;
      acc2[7] += wv2_0.x * s0_0_7 + wv2_1.x * s0_1_7 + wv2_2.x * s0_2_7 + wv2_0.y * s1_0_7 + wv2_1.y * s1_1_7 + wv2_2.y * s1_2_7 + wv2_0.z * s2_0_7 + wv2_1.z * s2_1_7 + wv2_2.z * s2_2_7 + wv2_0.w * s3_0_7 + wv2_1.w * s3_1_7 + wv2_2.w * s3_2_7;
      acc3[0] += wv3_0.x * s0_0_0 + wv3_1.x * s0_1_0 + wv3_2.x * s0_2_0 + wv3_0.y * s1_0_0 + wv3_1.y * s1_1_0 + wv3_2.y * s1_2_0 + wv3_0.z * s2_0_0 + wv3_1.z * s2_1_0 + wv3_2.z * s2_2_0 + wv3_0.w * s3_0_0 + wv3_1.w * s3_1_0 + wv3_2.w * s3_2_0;
      acc3[1] += wv3_0.x * s0_0_1 + wv3_1.x * s0_1_1 + wv3_2.x * s0_2_1 + wv3_0.y * s1_0_1 + wv3_1.y * s1_1_1 + wv3_2.y * s1_2_1 + wv3_0.z * s2_0_1 + wv3_1.z * s2_1_1 + wv3_2.z * s2_2_1 + wv3_0.w * s3_0_1 + wv3_1.w * s3_1_1 + wv3_2.w * s3_2_1;
      acc3[2] += wv3_0.x * s0_0_2 + wv3_1.x * s0_1_2 + wv3_2.x * s0_2_2 + wv3_0.y * s1_0_2 + wv3_1.y * s1_1_2 + wv3_2.y * s1_2_2 + wv3_0.z * s2_0_2 + wv3_1.z * s2_1_2 + wv3_2.z * s2_2_2 + wv3_0.w * s3_0_2 + wv3_1.w * s3_1_2 + wv3_2.w * s3_2_2;
      acc3[3] += wv3_0.x * s0_0_3 + wv3_1.x * s0_1_3 + wv3_2.x * s0_2_3 + wv3_0.y * s1_0_3 + wv3_1.y * s1_1_3 + wv3_2.y * s1_2_3 + wv3_0.z * s2_0_3 + wv3_1.z * s2_1_3 + wv3_2.z * s2_2_3 + wv3_0.w * s3_0_3 + wv3_1.w * s3_1_3 + wv3_2.w * s3_2_3;
      acc3[4] += wv3_0.x * s0_0_4 + wv3_1.x * s0_1_4 + wv3_2.x * s0_2_4 + wv3_0.y * s1_0_4 + wv3_1.y * s1_1_4 + wv3_2.y * s1_2_4 + wv3_0.z * s2_0_4 + wv3_1.z * s2_1_4 + wv3_2.z * s2_2_4 + wv3_0.w * s3_0_4 + wv3_1.w * s3_1_4 + wv3_2.w * s3_2_4;
      acc3[5] += wv3_0.x * s0_0_5 + wv3_1.x * s0_1_5 + wv3_2.x * s0_2_5 + wv3_0.y * s1_0_5 + wv3_1.y * s1_1_5 + wv3_2.y * s1_2_5 + wv3_0.z * s2_0_5 + wv3_1.z * s2_1_5 + wv3_2.z * s2_2_5 + wv3_0.w * s3_0_5 + wv3_1.w * s3_1_5 + wv3_2.w * s3_2_5;
      acc3[6] += wv3_0.x * s0_0_6 + wv3_1.x * s0_1_6 + wv3_2.x * s0_2_6 + wv3_0.y * s1_0_6 + wv3_1.y * s1_1_6 + wv3_2.y * s1_2_6 + wv3_0.z * s2_0_6 + wv3_1.z * s2_1_6 + wv3_2.z * s2_2_6 + wv3_0.w * s3_0_6 + wv3_1.w * s3_1_6 + wv3_2.w * s3_2_6;
      acc3[7] += wv3_0.x * s0_0_7 + wv3_1.x * s0_1_7 + wv3_2.x * s0_2_7 + wv3_0.y * s1_0_7 + wv3_1.y * s1_1_7 + wv3_2.y * s1_2_7 + wv3_0.z * s2_0_7 + wv3_1.z * s2_1_7 + wv3_2.z * s2_2_7 + wv3_0.w * s3_0_7 + wv3_1.w * s3_1_7 + wv3_2.w * s3_2_7;
    }
  }
  // Store the tile (bias added), skipping tail channels and pixels past the row.
  if (co0 + 0u < COUT_G) {
    let co = grp * COUT_G + co0 + 0u;
    let ybase = (n * COUT + co) * PIXELS + oy * WO + ox0;
    if (ox0 + 0u < WO) { store_y(ybase / 4u + 0u, acc0[0] + bias[co]); }
    if (ox0 + 4u < WO) { store_y(ybase / 4u + 1u, acc0[1] + bias[co]); }
    if (ox0 + 8u < WO) { store_y(ybase / 4u + 2u, acc0[2] + bias[co]); }
    if (ox0 + 12u < WO) { store_y(ybase / 4u + 3u, acc0[3] + bias[co]); }
    if (ox0 + 16u < WO) { store_y(ybase / 4u + 4u, acc0[4] + bias[co]); }
    if (ox0 + 20u < WO) { store_y(ybase / 4u + 5u, acc0[5] + bias[co]); }
    if (ox0 + 24u < WO) { store_y(ybase / 4u + 6u, acc0[6] + bias[co]); }
    if (ox0 + 28u < WO) { store_y(ybase / 4u + 7u, acc0[7] + bias[co]); }
  }
  if (co0 + 1u < COUT_G) {
    let co = grp * COUT_G + co0 + 1u;
    let ybase = (n * COUT + co) * PIXELS + oy * WO + ox0;
    if (ox0 + 0u < WO) { store_y(ybase / 4u + 0u, acc1[0] + bias[co]); }
    if (ox0 + 4u < WO) { store_y(ybase / 4u + 1u, acc1[1] + bias[co]); }
    if (ox0 + 8u < WO) { store_y(ybase / 4u + 2u, acc1[2] + bias[co]); }
    if (ox0 + 12u < WO) { store_y(ybase / 4u + 3u, acc1[3] + bias[co]); }
    if (ox0 + 16u < WO) { store_y(ybase / 4u + 4u, acc1[4] + bias[co]); }
    if (ox0 + 20u < WO) { store_y(ybase / 4u + 5u, acc1[5] + bias[co]); }
    if (ox0 + 24u < WO) { store_y(ybase / 4u + 6u, acc1[6] + bias[co]); }
    if (ox0 + 28u < WO) { store_y(ybase / 4u + 7u, acc1[7] + bias[co]); }
  }
  if (co0 + 2u < COUT_G) {
    let co = grp * COUT_G + co0 + 2u;
    let ybase = (n * COUT + co) * PIXELS + oy * WO + ox0;
    if (ox0 + 0u < WO) { store_y(ybase / 4u + 0u, acc2[0] + bias[co]); }
    if (ox0 + 4u < WO) { store_y(ybase / 4u + 1u, acc2[1] + bias[co]); }
    if (ox0 + 8u < WO) { store_y(ybase / 4u + 2u, acc2[2] + bias[co]); }
    if (ox0 + 12u < WO) { store_y(ybase / 4u + 3u, acc2[3] + bias[co]); }
    if (ox0 + 16u < WO) { store_y(ybase / 4u + 4u, acc2[4] + bias[co]); }
    if (ox0 + 20u < WO) { store_y(ybase / 4u + 5u, acc2[5] + bias[co]); }
    if (ox0 + 24u < WO) { store_y(ybase / 4u + 6u, acc2[6] + bias[co]); }
    if (ox0 + 28u < WO) { store_y(ybase / 4u + 7u, acc2[7] + bias[co]); }
  }
  if (co0 + 3u < COUT_G) {
    let co = grp * COUT_G + co0 + 3u;
    let ybase = (n * COUT + co) * PIXELS + oy * WO + ox0;
    if (ox0 + 0u < WO) { store_y(ybase / 4u + 0u, acc3[0] + bias[co]); }
    if (ox0 + 4u < WO) { store_y(ybase / 4u + 1u, acc3[1] + bias[co]); }
    if (ox0 + 8u < WO) { store_y(ybase / 4u + 2u, acc3[2] + bias[co]); }
    if (ox0 + 12u < WO) { store_y(ybase / 4u + 3u, acc3[3] + bias[co]); }
    if (ox0 + 16u < WO) { store_y(ybase / 4u + 4u, acc3[4] + bias[co]); }
    if (ox0 + 20u < WO) { store_y(ybase / 4u + 5u, acc3[5] + bias[co]); }
    if (ox0 + 24u < WO) { store_y(ybase / 4u + 6u, acc3[6] + bias[co]); }
    if (ox0 + 28u < WO) { store_y(ybase / 4u + 7u, acc3[7] + bias[co]); }
  }
}
