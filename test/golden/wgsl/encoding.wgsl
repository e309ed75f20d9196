// ===== kernel encoding_assign_k8_d16
// encoding, pass 1: softmax_k(s_k‖x_ni − c_k‖²) for x [1, 16, 8, 8], K = 8; one pixel per invocation

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> codewords: array<f32>;
@group(0) @binding(2) var<storage, read> scale: array<f32>;
@group(0) @binding(3) var<storage, read_write> assign: array<f32>;

const D = 16u; // feature size
const K = 8u; // codewords
const HW = 64u; // pixels
const WORKGROUP = 64u;
const GRID_X = 1u;
const GRID_Y = 1u;
const TOTAL = 64u; // work items

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  // The grid may be 2-D/3-D when there are more workgroups than one dimension allows.
  let gid = (wid.x + (wid.y + wid.z * GRID_Y) * GRID_X) * WORKGROUP + lid;
  if (gid >= TOTAL) { return; }
  let i = gid % HW;
  let n = gid / HW;
  let xbase = ((n) * 16u + 0u) * HW + i; // x[n, d, i] = x[xbase + d * HW]
  let abase = n * K * HW + i; // A[n, c, i] = assign[abase + c * HW]
  var top = -3.0e38;
  for (var c = 0u; c < K; c++) {
    var dist = 0.0;
    for (var d = 0u; d < D; d++) { let t = x[xbase + d * HW] - codewords[c * D + d]; dist += t * t; }
    let logit = scale[c] * dist;
    assign[abase + c * HW] = logit;
    top = max(top, logit);
  }
  var sum = 0.0;
  for (var c = 0u; c < K; c++) { let e = exp(assign[abase + c * HW] - top); assign[abase + c * HW] = e; sum += e; }
  let inv = 1.0 / sum;
  for (var c = 0u; c < K; c++) { assign[abase + c * HW] *= inv; }
}

// ===== kernel encoding_aggregate_k8_d16
// encoding, pass 2: E[n, k, d] = Σ_i A[n, k, i] · (x[n, d, i] − c[k, d]) → [1, 8, 16]; one output per invocation

@group(0) @binding(0) var<storage, read> x: array<vec4f>;
@group(0) @binding(1) var<storage, read> codewords: array<f32>;
@group(0) @binding(2) var<storage, read> assign: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

const D = 16u; // feature size
const K = 8u; // codewords
const HW = 64u; // pixels

// Element i of the result (dense index): stores.
fn store_y(i: u32, v0: f32) {
  var v = v0;
  y[i] = v;
}
const WORKGROUP = 64u;
const GRID_X = 2u;
const GRID_Y = 1u;
const TOTAL = 128u; // work items

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  // The grid may be 2-D/3-D when there are more workgroups than one dimension allows.
  let gid = (wid.x + (wid.y + wid.z * GRID_Y) * GRID_X) * WORKGROUP + lid;
  if (gid >= TOTAL) { return; }
  let d = gid % D;
  let c = (gid / D) % K;
  let n = gid / (D * K);
  let cw = codewords[c * D + d];
  let xrow = ((n) * 16u + d) * HW / 4u;
  let arow = (n * K + c) * HW / 4u;
  var s = vec4f(0.0);
  for (var i = 0u; i < HW / 4u; i++) { s += assign[arow + i] * (x[xrow + i] - cw); }
  store_y(gid, s.x + s.y + s.z + s.w);
}
