// ===== kernel groupnorm_g8
// groupnorm, 8 groups, eps 0.00001: [1, 32, 8, 8]; one workgroup of 256 per (sample, group)

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> weight: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

const CHANNELS = 32u;  const GROUPS = 8u;  const PLANE = 64u;
const GROUP_SIZE = CHANNELS / GROUPS * PLANE; // values normalised together
const EPS = 0.00001f;

// One array per reduction: a read of the first total that the compiler sinks below a barrier must not see
// the second reduction's writes (observed with Dawn's GL backend on llvmpipe).
var<workgroup> partial_mean: array<f32, 256>;
var<workgroup> partial_var: array<f32, 256>;

// Tree sum of partial_mean[0..WORKGROUP) (WORKGROUP is a power of two); every invocation gets the total.
fn sum_partial_mean(lid: u32, v: f32) -> f32 {
  partial_mean[lid] = v;
  workgroupBarrier();
  for (var half = WORKGROUP / 2u; half > 0u; half /= 2u) {
    if (lid < half) { partial_mean[lid] += partial_mean[lid + half]; }
    workgroupBarrier();
  }
  return partial_mean[0];
}
// Tree sum of partial_var[0..WORKGROUP) (WORKGROUP is a power of two); every invocation gets the total.
fn sum_partial_var(lid: u32, v: f32) -> f32 {
  partial_var[lid] = v;
  workgroupBarrier();
  for (var half = WORKGROUP / 2u; half > 0u; half /= 2u) {
    if (lid < half) { partial_var[lid] += partial_var[lid + half]; }
    workgroupBarrier();
  }
  return partial_var[0];
}

// Element i of the result (dense index): stores.
fn store_y(i: u32, v0: f32) {
  var v = v0;
  y[i] = v;
}
const WORKGROUP = 256u;
const GRID_X = 8u;
const GRID_Y = 1u;
const ITEMS = 8u; // one workgroup each

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let item = wid.x + (wid.y + wid.z * GRID_Y) * GRID_X;
  if (item >= ITEMS) { return; }
  let n = item / GROUPS;
  let base = item * GROUP_SIZE; // (n, group) blocks are contiguous in NCHW
  let xb = ((n) * 32u + (item % GROUPS) * (CHANNELS / GROUPS)) * PLANE; // where the block is stored
  var s = 0.0;
  for (var k = lid; k < GROUP_SIZE; k += WORKGROUP) { s += x[xb + k]; }
  let mean = sum_partial_mean(lid, s) / f32(GROUP_SIZE);
  var q = 0.0;
  for (var k = lid; k < GROUP_SIZE; k += WORKGROUP) { let t = x[xb + k] - mean; q += t * t; }
  let inv_std = 1.0 / sqrt(sum_partial_var(lid, q) / f32(GROUP_SIZE) + EPS);
  let c0 = (item % GROUPS) * (CHANNELS / GROUPS);
  for (var k = lid; k < GROUP_SIZE; k += WORKGROUP) {
    let c = c0 + k / PLANE;
    store_y(base + k, (x[xb + k] - mean) * inv_std * weight[c] + bias[c]);
  }
}
