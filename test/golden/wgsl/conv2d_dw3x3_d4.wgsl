// ===== kernel conv2d_dw3x3_d4_c8
// depthwise conv2d 3×3 stride 1 padding 4 dilation 4: x [1, 8, 17, 15] → y [1, 8, 17, 15]
// each invocation: 4 adjacent output pixels of one row

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> wt: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

const CHANNELS = 8u;  const H = 17u;  const W = 15u;
const HO = 17u;  const WO = 15u;
const KSIZE = 3u;  const STRIDE = 1i;  const PAD = 4i;  const DILATION = 4i;
const TN = 4u; // adjacent output pixels of one row per invocation
const ROW_TILES = 4u;

// Element i of the result (dense index): stores.
fn store_y(i: u32, v0: f32) {
  var v = v0;
  y[i] = v;
}
const WORKGROUP = 64u;
const GRID_X = 9u;
const GRID_Y = 1u;
const TOTAL = 544u; // work items

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  // The grid may be 2-D/3-D when there are more workgroups than one dimension allows.
  let gid = (wid.x + (wid.y + wid.z * GRID_Y) * GRID_X) * WORKGROUP + lid;
  if (gid >= TOTAL) { return; }
  let tile = gid % ROW_TILES;
  let oy = (gid / ROW_TILES) % HO;
  let c = (gid / (ROW_TILES * HO)) % CHANNELS;
  let n = gid / (ROW_TILES * HO * CHANNELS);
  let ox0 = tile * TN;
  let xbase = ((n) * 8u + c) * H * W;
  let wbase = c * KSIZE * KSIZE;
  let iy0 = i32(oy) * STRIDE - PAD;
  let ix0 = i32(ox0 + 0u) * STRIDE - PAD;
  let ix1 = i32(ox0 + 1u) * STRIDE - PAD;
  let ix2 = i32(ox0 + 2u) * STRIDE - PAD;
  let ix3 = i32(ox0 + 3u) * STRIDE - PAD;
  var acc = vec4f(0.0);
  for (var ky = 0u; ky < KSIZE; ky++) {
    let iy = iy0 + i32(ky) * DILATION;
    if (iy < 0i || iy >= i32(H)) { continue; } // the whole row is zero padding
    let row = xbase + u32(iy) * W;
    for (var kx = 0u; kx < KSIZE; kx++) {
      let wk = wt[wbase + ky * KSIZE + kx];
      let tx0 = ix0 + i32(kx) * DILATION;
      let in0 = tx0 >= 0i && tx0 < i32(W);
      let tx1 = ix1 + i32(kx) * DILATION;
      let in1 = tx1 >= 0i && tx1 < i32(W);
      let tx2 = ix2 + i32(kx) * DILATION;
      let in2 = tx2 >= 0i && tx2 < i32(W);
      let tx3 = ix3 + i32(kx) * DILATION;
      let in3 = tx3 >= 0i && tx3 < i32(W);
      let xv = vec4f(x[row + select(0u, u32(tx0), in0)], x[row + select(0u, u32(tx1), in1)], x[row + select(0u, u32(tx2), in2)], x[row + select(0u, u32(tx3), in3)]) * vec4f(select(0.0, 1.0, in0), select(0.0, 1.0, in1), select(0.0, 1.0, in2), select(0.0, 1.0, in3));
      acc += wk * xv;
    }
  }
  let ybase = ((n * CHANNELS + c) * HO + oy) * WO;
  if (ox0 + 0u < WO) { store_y(ybase + ox0 + 0u, acc.x); }
  if (ox0 + 1u < WO) { store_y(ybase + ox0 + 1u, acc.y); }
  if (ox0 + 2u < WO) { store_y(ybase + ox0 + 2u, acc.z); }
  if (ox0 + 3u < WO) { store_y(ybase + ox0 + 3u, acc.w); }
}
