// ===== kernel encoding_assign_k8_d16
// encoding, pass 1: softmax_k(s_k‖x_ni − c_k‖²) for x [1, 16, 8, 8], K = 8; one pixel per invocation, its K distances in registers, codewords read as vec4s

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> codewords: array<vec4f>;
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
  var dist0 = 0.0;
  var dist1 = 0.0;
  var dist2 = 0.0;
  var dist3 = 0.0;
  var dist4 = 0.0;
  var dist5 = 0.0;
  var dist6 = 0.0;
  var dist7 = 0.0;
  for (var d4 = 0u; d4 < D / 4u; d4++) {
    let xd = xbase + d4 * 4u * HW;
    let xv = vec4f(x[xd], x[xd + HW], x[xd + 2u * HW], x[xd + 3u * HW]); // features 4·d4 .. 4·d4+3
    let t0 = xv - codewords[0u * (D / 4u) + d4]; dist0 += dot(t0, t0);
    let t1 = xv - codewords[1u * (D / 4u) + d4]; dist1 += dot(t1, t1);
    let t2 = xv - codewords[2u * (D / 4u) + d4]; dist2 += dot(t2, t2);
    let t3 = xv - codewords[3u * (D / 4u) + d4]; dist3 += dot(t3, t3);
    let t4 = xv - codewords[4u * (D / 4u) + d4]; dist4 += dot(t4, t4);
    let t5 = xv - codewords[5u * (D / 4u) + d4]; dist5 += dot(t5, t5);
    let t6 = xv - codewords[6u * (D / 4u) + d4]; dist6 += dot(t6, t6);
    let t7 = xv - codewords[7u * (D / 4u) + d4]; dist7 += dot(t7, t7);
  }
  let l0 = scale[0u] * dist0;
  let l1 = scale[1u] * dist1;
  let l2 = scale[2u] * dist2;
  let l3 = scale[3u] * dist3;
  let l4 = scale[4u] * dist4;
  let l5 = scale[5u] * dist5;
  let l6 = scale[6u] * dist6;
  let l7 = scale[7u] * dist7;
  let top = max(max(max(max(max(max(max(l0, l1), l2), l3), l4), l5), l6), l7);
  let e0 = exp(l0 - top);
  let e1 = exp(l1 - top);
  let e2 = exp(l2 - top);
  let e3 = exp(l3 - top);
  let e4 = exp(l4 - top);
  let e5 = exp(l5 - top);
  let e6 = exp(l6 - top);
  let e7 = exp(l7 - top);
  let inv = 1.0 / (e0 + e1 + e2 + e3 + e4 + e5 + e6 + e7);
  assign[abase + 0u * HW] = e0 * inv;
  assign[abase + 1u * HW] = e1 * inv;
  assign[abase + 2u * HW] = e2 * inv;
  assign[abase + 3u * HW] = e3 * inv;
  assign[abase + 4u * HW] = e4 * inv;
  assign[abase + 5u * HW] = e5 * inv;
  assign[abase + 6u * HW] = e6 * inv;
  assign[abase + 7u * HW] = e7 * inv;
}

// ===== kernel encoding_aggregate_k8_d16
// encoding, pass 2: E[n, k, d] = Σ_i A[n, k, i] · (x[n, d, i] − c[k, d]) → [1, 8, 16]; 4 codewords × 4 feature channels per invocation

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
const GRID_X = 1u;
const GRID_Y = 1u;
const TOTAL = 8u; // work items

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  // The grid may be 2-D/3-D when there are more workgroups than one dimension allows.
  let gid = (wid.x + (wid.y + wid.z * GRID_Y) * GRID_X) * WORKGROUP + lid;
  if (gid >= TOTAL) { return; }
  let d0 = (gid % (D / 4u)) * 4u;
  let c0 = ((gid / (D / 4u)) % (K / 4u)) * 4u;
  let n = gid / ((D / 4u) * (K / 4u));
  let xrow0 = ((n) * 16u + d0 + 0u) * HW / 4u;
  let xrow1 = ((n) * 16u + d0 + 1u) * HW / 4u;
  let xrow2 = ((n) * 16u + d0 + 2u) * HW / 4u;
  let xrow3 = ((n) * 16u + d0 + 3u) * HW / 4u;
  let arow0 = (n * K + c0 + 0u) * HW / 4u;
  let arow1 = (n * K + c0 + 1u) * HW / 4u;
  let arow2 = (n * K + c0 + 2u) * HW / 4u;
  let arow3 = (n * K + c0 + 3u) * HW / 4u;
  let cw0_0 = codewords[(c0 + 0u) * D + d0 + 0u];
  let cw0_1 = codewords[(c0 + 0u) * D + d0 + 1u];
  let cw0_2 = codewords[(c0 + 0u) * D + d0 + 2u];
  let cw0_3 = codewords[(c0 + 0u) * D + d0 + 3u];
  let cw1_0 = codewords[(c0 + 1u) * D + d0 + 0u];
  let cw1_1 = codewords[(c0 + 1u) * D + d0 + 1u];
  let cw1_2 = codewords[(c0 + 1u) * D + d0 + 2u];
  let cw1_3 = codewords[(c0 + 1u) * D + d0 + 3u];
  let cw2_0 = codewords[(c0 + 2u) * D + d0 + 0u];
  let cw2_1 = codewords[(c0 + 2u) * D + d0 + 1u];
  let cw2_2 = codewords[(c0 + 2u) * D + d0 + 2u];
  let cw2_3 = codewords[(c0 + 2u) * D + d0 + 3u];
  let cw3_0 = codewords[(c0 + 3u) * D + d0 + 0u];
  let cw3_1 = codewords[(c0 + 3u) * D + d0 + 1u];
  let cw3_2 = codewords[(c0 + 3u) * D + d0 + 2u];
  let cw3_3 = codewords[(c0 + 3u) * D + d0 + 3u];
  var s0_0 = vec4f(0.0);
  var s0_1 = vec4f(0.0);
  var s0_2 = vec4f(0.0);
  var s0_3 = vec4f(0.0);
  var s1_0 = vec4f(0.0);
  var s1_1 = vec4f(0.0);
  var s1_2 = vec4f(0.0);
  var s1_3 = vec4f(0.0);
  var s2_0 = vec4f(0.0);
  var s2_1 = vec4f(0.0);
  var s2_2 = vec4f(0.0);
  var s2_3 = vec4f(0.0);
  var s3_0 = vec4f(0.0);
  var s3_1 = vec4f(0.0);
  var s3_2 = vec4f(0.0);
  var s3_3 = vec4f(0.0);
  for (var i = 0u; i < HW / 4u; i++) {
    let a0 = assign[arow0 + i];
    let a1 = assign[arow1 + i];
    let a2 = assign[arow2 + i];
    let a3 = assign[arow3 + i];
    let x0 = x[xrow0 + i];
    let x1 = x[xrow1 + i];
    let x2 = x[xrow2 + i];
    let x3 = x[xrow3 + i];
    s0_0 += a0 * (x0 - cw0_0);
    s0_1 += a0 * (x1 - cw0_1);
    s0_2 += a0 * (x2 - cw0_2);
    s0_3 += a0 * (x3 - cw0_3);
    s1_0 += a1 * (x0 - cw1_0);
    s1_1 += a1 * (x1 - cw1_1);
    s1_2 += a1 * (x2 - cw1_2);
    s1_3 += a1 * (x3 - cw1_3);
    s2_0 += a2 * (x0 - cw2_0);
    s2_1 += a2 * (x1 - cw2_1);
    s2_2 += a2 * (x2 - cw2_2);
    s2_3 += a2 * (x3 - cw2_3);
    s3_0 += a3 * (x0 - cw3_0);
    s3_1 += a3 * (x1 - cw3_1);
    s3_2 += a3 * (x2 - cw3_2);
    s3_3 += a3 * (x3 - cw3_3);
  }
  store_y((n * K + c0 + 0u) * D + d0 + 0u, s0_0.x + s0_0.y + s0_0.z + s0_0.w);
  store_y((n * K + c0 + 0u) * D + d0 + 1u, s0_1.x + s0_1.y + s0_1.z + s0_1.w);
  store_y((n * K + c0 + 0u) * D + d0 + 2u, s0_2.x + s0_2.y + s0_2.z + s0_2.w);
  store_y((n * K + c0 + 0u) * D + d0 + 3u, s0_3.x + s0_3.y + s0_3.z + s0_3.w);
  store_y((n * K + c0 + 1u) * D + d0 + 0u, s1_0.x + s1_0.y + s1_0.z + s1_0.w);
  store_y((n * K + c0 + 1u) * D + d0 + 1u, s1_1.x + s1_1.y + s1_1.z + s1_1.w);
  store_y((n * K + c0 + 1u) * D + d0 + 2u, s1_2.x + s1_2.y + s1_2.z + s1_2.w);
  store_y((n * K + c0 + 1u) * D + d0 + 3u, s1_3.x + s1_3.y + s1_3.z + s1_3.w);
  store_y((n * K + c0 + 2u) * D + d0 + 0u, s2_0.x + s2_0.y + s2_0.z + s2_0.w);
  store_y((n * K + c0 + 2u) * D + d0 + 1u, s2_1.x + s2_1.y + s2_1.z + s2_1.w);
  store_y((n * K + c0 + 2u) * D + d0 + 2u, s2_2.x + s2_2.y + s2_2.z + s2_2.w);
  store_y((n * K + c0 + 2u) * D + d0 + 3u, s2_3.x + s2_3.y + s2_3.z + s2_3.w);
  store_y((n * K + c0 + 3u) * D + d0 + 0u, s3_0.x + s3_0.y + s3_0.z + s3_0.w);
  store_y((n * K + c0 + 3u) * D + d0 + 1u, s3_1.x + s3_1.y + s3_1.z + s3_1.w);
  store_y((n * K + c0 + 3u) * D + d0 + 2u, s3_2.x + s3_2.y + s3_2.z + s3_2.w);
  store_y((n * K + c0 + 3u) * D + d0 + 3u, s3_3.x + s3_3.y + s3_3.z + s3_3.w);
}
