/**
 * WGSL sources of the WebGPU backend: trilinear slice gather, its adjoint scatter-add and the
 * rotation gradient (real plane, two complex planes, or a Hartley volume sampled at +q and -q),
 * and a centred 1D FFT pass along one axis of a batch of lines (radix-2 in workgroup memory for
 * power-of-two lengths, a direct DFT otherwise). Same geometry as src/core/fourierSlice.ts:
 * pixel (x, y) with k = (x - ci, y - ci) samples the volume at cv + rows·k, where the 6 numbers
 * per slice (rows) are the first two rows of A times the sampling step, precomputed in float64
 * on the CPU and uploaded as float32 (WGSL has no float64: positions and sums are float32).
 * WGSL has no float atomics: the scatter adds with a compare-exchange loop on the bit pattern.
 */

/** Uniform block shared by the slice kernels (8 x 32-bit). */
const SLICE_PARAMS = /* wgsl */ `
struct P { Dv: u32, Di: u32, B: u32, rowStride: u32, cv: f32, ci: i32, r2max: f32, pad: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> rows: array<f32>;
`;

/** fn sample_<buf>(pos) -> f32: trilinear sample with zero outside the grid. */
function sampleFn(buf: string): string {
  return /* wgsl */ `
fn at_${buf}(x: i32, y: i32, z: i32) -> f32 {
  let D = i32(p.Dv);
  if (x < 0 || y < 0 || z < 0 || x >= D || y >= D || z >= D) { return 0.0; }
  return ${buf}[u32((z * D + y) * D + x)];
}
fn sample_${buf}(q: vec3<f32>) -> f32 {
  let f0 = floor(q);
  let i0 = vec3<i32>(f0);
  let f = q - f0;
  let g = vec3<f32>(1.0) - f;
  let c00 = g.x * at_${buf}(i0.x, i0.y, i0.z) + f.x * at_${buf}(i0.x + 1, i0.y, i0.z);
  let c10 = g.x * at_${buf}(i0.x, i0.y + 1, i0.z) + f.x * at_${buf}(i0.x + 1, i0.y + 1, i0.z);
  let c01 = g.x * at_${buf}(i0.x, i0.y, i0.z + 1) + f.x * at_${buf}(i0.x + 1, i0.y, i0.z + 1);
  let c11 = g.x * at_${buf}(i0.x, i0.y + 1, i0.z + 1) + f.x * at_${buf}(i0.x + 1, i0.y + 1, i0.z + 1);
  return g.z * (g.y * c00 + f.y * c10) + f.z * (g.y * c01 + f.y * c11);
}
fn grad_${buf}(q: vec3<f32>) -> vec3<f32> {
  let f0 = floor(q);
  let i0 = vec3<i32>(f0);
  let f = q - f0;
  let u = vec3<f32>(1.0) - f;
  let v000 = at_${buf}(i0.x, i0.y, i0.z);
  let v100 = at_${buf}(i0.x + 1, i0.y, i0.z);
  let v010 = at_${buf}(i0.x, i0.y + 1, i0.z);
  let v110 = at_${buf}(i0.x + 1, i0.y + 1, i0.z);
  let v001 = at_${buf}(i0.x, i0.y, i0.z + 1);
  let v101 = at_${buf}(i0.x + 1, i0.y, i0.z + 1);
  let v011 = at_${buf}(i0.x, i0.y + 1, i0.z + 1);
  let v111 = at_${buf}(i0.x + 1, i0.y + 1, i0.z + 1);
  return vec3<f32>(
    u.z * (u.y * (v100 - v000) + f.y * (v110 - v010)) + f.z * (u.y * (v101 - v001) + f.y * (v111 - v011)),
    u.z * (u.x * (v010 - v000) + f.x * (v110 - v100)) + f.z * (u.x * (v011 - v001) + f.x * (v111 - v101)),
    u.y * (u.x * (v001 - v000) + f.x * (v101 - v100)) + f.y * (u.x * (v011 - v010) + f.x * (v111 - v110)));
}
`;
}

/** Pixel bookkeeping: slice b, k = (kx, ky), the offset q = rows_b · k (relative to the centre). */
const PIXEL = /* wgsl */ `
struct Px { ok: bool, b: u32, k: vec2<f32>, q: vec3<f32> }
fn pixel(i: u32) -> Px {
  var r: Px;
  let P2 = p.Di * p.Di;
  r.ok = i < p.B * P2;
  if (!r.ok) { return r; }
  r.b = i / P2;
  let rem = i - r.b * P2;
  let y = rem / p.Di;
  let x = rem - y * p.Di;
  r.k = vec2<f32>(f32(i32(x) - p.ci), f32(i32(y) - p.ci));
  let o = 6u * r.b;
  r.q = vec3<f32>(rows[o] * r.k.x + rows[o + 3u] * r.k.y,
                  rows[o + 1u] * r.k.x + rows[o + 4u] * r.k.y,
                  rows[o + 2u] * r.k.x + rows[o + 5u] * r.k.y);
  return r;
}
fn inDisc(k: vec2<f32>) -> bool { return k.x * k.x + k.y * k.y <= p.r2max; }
`;

/** out[i] = sample(vol, cv + q). */
export const GATHER_REAL = /* wgsl */ `${SLICE_PARAMS}
@group(0) @binding(2) var<storage, read> vol: array<f32>;
@group(0) @binding(3) var<storage, read_write> outp: array<f32>;
${sampleFn('vol')}${PIXEL}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.rowStride;
  let px = pixel(i);
  if (!px.ok) { return; }
  if (!inDisc(px.k)) { outp[i] = 0.0; return; }
  outp[i] = sample_vol(vec3<f32>(p.cv) + px.q);
}
`;

/** F = (H(+q) + H(-q))/2 + i (H(-q) - H(+q))/2. */
export const GATHER_HARTLEY = /* wgsl */ `${SLICE_PARAMS}
@group(0) @binding(2) var<storage, read> vol: array<f32>;
@group(0) @binding(3) var<storage, read_write> outRe: array<f32>;
@group(0) @binding(4) var<storage, read_write> outIm: array<f32>;
${sampleFn('vol')}${PIXEL}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.rowStride;
  let px = pixel(i);
  if (!px.ok) { return; }
  if (!inDisc(px.k)) { outRe[i] = 0.0; outIm[i] = 0.0; return; }
  let h1 = sample_vol(vec3<f32>(p.cv) + px.q);
  let h2 = sample_vol(vec3<f32>(p.cv) - px.q);
  outRe[i] = 0.5 * (h1 + h2);
  outIm[i] = 0.5 * (h2 - h1);
}
`;

const ATOMIC_SPLAT = /* wgsl */ `
fn addF(idx: u32, v: f32) {
  var old = atomicLoad(&acc[idx]);
  loop {
    let r = atomicCompareExchangeWeak(&acc[idx], old, bitcast<u32>(bitcast<f32>(old) + v));
    if (r.exchanged) { break; }
    old = r.old_value;
  }
}
fn splat(q: vec3<f32>, v: f32) {
  let D = i32(p.Dv);
  let f0 = floor(q);
  let i0 = vec3<i32>(f0);
  let f = q - f0;
  let g = vec3<f32>(1.0) - f;
  for (var dz = 0; dz < 2; dz++) {
    let z = i0.z + dz;
    if (z < 0 || z >= D) { continue; }
    let wz = select(g.z, f.z, dz == 1);
    for (var dy = 0; dy < 2; dy++) {
      let y = i0.y + dy;
      if (y < 0 || y >= D) { continue; }
      let wzy = wz * select(g.y, f.y, dy == 1);
      for (var dx = 0; dx < 2; dx++) {
        let x = i0.x + dx;
        if (x < 0 || x >= D) { continue; }
        addF(u32((z * D + y) * D + x), wzy * select(g.x, f.x, dx == 1) * v);
      }
    }
  }
}
`;

/** acc += adjoint splat of vals. */
export const SCATTER_REAL = /* wgsl */ `${SLICE_PARAMS}
@group(0) @binding(2) var<storage, read> vals: array<f32>;
@group(0) @binding(3) var<storage, read_write> acc: array<atomic<u32>>;
${PIXEL}${ATOMIC_SPLAT}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.rowStride;
  let px = pixel(i);
  if (!px.ok || !inDisc(px.k)) { return; }
  let v = vals[i];
  if (v == 0.0) { return; }
  splat(vec3<f32>(p.cv) + px.q, v);
}
`;

/** dH += splat(+q, (gRe - gIm)/2) + splat(-q, (gRe + gIm)/2). */
export const SCATTER_HARTLEY = /* wgsl */ `${SLICE_PARAMS}
@group(0) @binding(2) var<storage, read> gRe: array<f32>;
@group(0) @binding(3) var<storage, read> gIm: array<f32>;
@group(0) @binding(4) var<storage, read_write> acc: array<atomic<u32>>;
${PIXEL}${ATOMIC_SPLAT}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.rowStride;
  let px = pixel(i);
  if (!px.ok || !inDisc(px.k)) { return; }
  let a = 0.5 * (gRe[i] - gIm[i]);
  let b = 0.5 * (gRe[i] + gIm[i]);
  if (a != 0.0) { splat(vec3<f32>(p.cv) + px.q, a); }
  if (b != 0.0) { splat(vec3<f32>(p.cv) - px.q, b); }
}
`;

export type RotGradMode = 'real' | 'complex' | 'hartley';

/**
 * One workgroup per slice: sum over its pixels of k_i · (dL/dp_j), i in {x, y}, j in {x, y, z}
 * (6 float32 sums, tree-reduced in workgroup memory). The host multiplies by the step.
 */
export function rotGradSource(mode: RotGradMode): string {
  const bindings = mode === 'real'
    ? `@group(0) @binding(2) var<storage, read> v0: array<f32>;
@group(0) @binding(3) var<storage, read> g0: array<f32>;
@group(0) @binding(4) var<storage, read_write> outp: array<f32>;`
    : mode === 'complex'
      ? `@group(0) @binding(2) var<storage, read> v0: array<f32>;
@group(0) @binding(3) var<storage, read> v1: array<f32>;
@group(0) @binding(4) var<storage, read> g0: array<f32>;
@group(0) @binding(5) var<storage, read> g1: array<f32>;
@group(0) @binding(6) var<storage, read_write> outp: array<f32>;`
      : `@group(0) @binding(2) var<storage, read> v0: array<f32>;
@group(0) @binding(3) var<storage, read> g0: array<f32>;
@group(0) @binding(4) var<storage, read> g1: array<f32>;
@group(0) @binding(5) var<storage, read_write> outp: array<f32>;`;
  const body = mode === 'real'
    ? `let d = g0[i] * grad_v0(c + px.q);`
    : mode === 'complex'
      ? `let d = g0[i] * grad_v0(c + px.q) + g1[i] * grad_v1(c + px.q);`
      : `let d = 0.5 * (g0[i] - g1[i]) * grad_v0(c + px.q) - 0.5 * (g0[i] + g1[i]) * grad_v0(c - px.q);`;
  return /* wgsl */ `${SLICE_PARAMS}
${bindings}
${sampleFn('v0')}${mode === 'complex' ? sampleFn('v1') : ''}${PIXEL}
var<workgroup> red: array<f32, 1536>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let b = wid.x + wid.y * nwg.x;
  var s0 = vec3<f32>(0.0);
  var s1 = vec3<f32>(0.0);
  let P2 = p.Di * p.Di;
  let c = vec3<f32>(p.cv);
  if (b < p.B) {
    for (var j = lid; j < P2; j += 256u) {
      let i = b * P2 + j;
      let px = pixel(i);
      if (!inDisc(px.k)) { continue; }
      ${body}
      s0 += px.k.x * d;
      s1 += px.k.y * d;
    }
  }
  red[6u * lid] = s0.x; red[6u * lid + 1u] = s0.y; red[6u * lid + 2u] = s0.z;
  red[6u * lid + 3u] = s1.x; red[6u * lid + 4u] = s1.y; red[6u * lid + 5u] = s1.z;
  workgroupBarrier();
  for (var h = 128u; h > 0u; h >>= 1u) {
    if (lid < h) {
      for (var t = 0u; t < 6u; t++) { red[6u * lid + t] += red[6u * (lid + h) + t]; }
    }
    workgroupBarrier();
  }
  if (lid == 0u && b < p.B) {
    for (var t = 0u; t < 6u; t++) { outp[6u * b + t] = red[t]; }
  }
}
`;
}

/**
 * One centred 1D transform per workgroup along one axis. Line L = hi·nLo + lo starts at
 * hi·hiStride + lo·loStride, elements stride apart. Input index n (standard order) is read from
 * centred position (n + c) mod N and output k is written to (k + c) mod N, c = floor(N/2)
 * (fftshift(fft(ifftshift(x)))). sign = -1 forward, +1 inverse; scale multiplies the output.
 */
export const FFT_LINES = /* wgsl */ `
struct F { N: u32, nLo: u32, loStride: u32, hiStride: u32, stride: u32, nLines: u32, log2N: u32, pow2: u32, sign: f32, scale: f32, rowStride: u32, pad: u32 }
@group(0) @binding(0) var<uniform> f: F;
@group(0) @binding(1) var<storage, read_write> re: array<f32>;
@group(0) @binding(2) var<storage, read_write> im: array<f32>;
var<workgroup> sr: array<f32, 1024>;
var<workgroup> si: array<f32, 1024>;
const TAU: f32 = 6.283185307179586;
fn rev(n: u32, bits: u32) -> u32 { return reverseBits(n) >> (32u - bits); }
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let L = wid.x + wid.y * nwg.x;
  let live = L < f.nLines;
  let N = f.N;
  let c = N / 2u;
  var base = 0u;
  if (live) { base = (L / f.nLo) * f.hiStride + (L % f.nLo) * f.loStride; }
  if (live) {
    for (var n = lid; n < N; n += 256u) {
      let src = base + ((n + c) % N) * f.stride;
      let dst = select(n, rev(n, f.log2N), f.pow2 == 1u);
      sr[dst] = re[src];
      si[dst] = im[src];
    }
  }
  workgroupBarrier();
  if (f.pow2 == 1u) {
    var half = 1u;
    for (var s = 0u; s < f.log2N; s++) {
      for (var t = lid; t < N / 2u; t += 256u) {
        let grp = t / half;
        let pos = t - grp * half;
        let i = grp * 2u * half + pos;
        let j = i + half;
        let ang = f.sign * TAU * f32(pos) / f32(2u * half);
        let wr = cos(ang);
        let wi = sin(ang);
        let xr = sr[j] * wr - si[j] * wi;
        let xi = sr[j] * wi + si[j] * wr;
        let ur = sr[i];
        let ui = si[i];
        sr[i] = ur + xr; si[i] = ui + xi;
        sr[j] = ur - xr; si[j] = ui - xi;
      }
      workgroupBarrier();
      half = half * 2u;
    }
    if (live) {
      for (var k = lid; k < N; k += 256u) {
        let dst = base + ((k + c) % N) * f.stride;
        re[dst] = sr[k] * f.scale;
        im[dst] = si[k] * f.scale;
      }
    }
  } else if (live) {
    for (var k = lid; k < N; k += 256u) {
      var ar = 0.0;
      var ai = 0.0;
      for (var n = 0u; n < N; n++) {
        let ang = f.sign * TAU * f32((k * n) % N) / f32(N);
        let wr = cos(ang);
        let wi = sin(ang);
        ar += sr[n] * wr - si[n] * wi;
        ai += sr[n] * wi + si[n] * wr;
      }
      let dst = base + ((k + c) % N) * f.stride;
      re[dst] = ar * f.scale;
      im[dst] = ai * f.scale;
    }
  }
}
`;
