/**
 * The hardware matmul: tileM × tileN output tiles staged through workgroup memory in K steps of
 * tileK; each invocation accumulates threadM × threadN outputs in registers (8×8 for the 128×128 and
 * 128×64 tiles, 4×4 for the small 64×64 / 32×32 ones).
 *
 * - Global loads are vec4s along K where A's rows and W's rows start 16-byte aligned (vec4A/vec4W),
 *   scalars otherwise; consecutive invocations read consecutive K of one row.
 * - Tiles are stored K-major ([k][m], [k][n]) as vec4 arrays, so the inner loop reads threadM/4 +
 *   threadN/4 vec4s per K and does threadM·threadN FMAs.
 * - `stages: 2` double-buffers: while tile t is multiplied, tile t+1 is fetched into registers and
 *   then written to the other buffer; one barrier per K step.
 * - `math: 'f16'` stages the tiles in f16 (half the workgroup memory) and multiplies in f16; the
 *   accumulators stay f32.
 * Ragged edges: loads outside M, N, K are zero-filled; every store is guarded (store()).
 */
import { DittoError } from '../../core/errors.ts';
import { ceilDiv } from './common.ts';
import type { MatmulConfig, MatmulTiledVariant } from './matmulCommon.ts';

export function tiledThreads(v: MatmulTiledVariant): number {
  return (v.tileM / v.threadM) * (v.tileN / v.threadN);
}

/** Bytes of workgroup memory the variant declares. */
export function tiledStorageBytes(v: Pick<MatmulTiledVariant, 'tileM' | 'tileN' | 'tileK' | 'stages' | 'math'>): number {
  return v.stages * v.tileK * (v.tileM + v.tileN) * (v.math === 'f16' ? 2 : 4);
}

/** Loads per invocation per K step for an operand tile of `rows` rows (vec4 or scalar units). */
function unitsPerThread(rows: number, v: MatmulTiledVariant, vec: boolean): number {
  const units = (rows * v.tileK) / (vec ? 4 : 1);
  const t = tiledThreads(v);
  if (units % t !== 0) throw new DittoError('E_INTERNAL', `matmul tiled: a ${rows}×${v.tileK} tile does not split over ${t} invocations`);
  return units / t;
}

export function emitTiledMatmul(c: MatmulConfig, v: MatmulTiledVariant): string {
  const { tileM: TM, tileN: TN, tileK: TK, threadM: RM, threadN: RN } = v;
  if (TM % RM || TN % RN || RM % 4 || RN % 4 || TK % 4) throw new DittoError('E_INTERNAL', `matmul tiled: tile ${TM}×${TN}×${TK} with ${RM}×${RN} per invocation is not a valid shape`);
  const threads = tiledThreads(v);
  const ST = v.math === 'f16' ? 'f16' : 'f32';
  const NT = ceilDiv(c.K, TK);
  const L: string[] = [];
  L.push(`const TILES_K = ${NT}u;`);
  L.push(`var<workgroup> As: array<vec4<${ST}>, ${(v.stages * TK * TM) / 4}>; // [stage][k][m]`);
  L.push(`var<workgroup> Ws: array<vec4<${ST}>, ${(v.stages * TK * TN) / 4}>; // [stage][k][n]`);
  // fetchX: one load unit (vec4 along K or a scalar) of the tile starting at (row0, k0), zero outside the problem.
  // putX: writes it K-major into a stage.
  const operand = (X: 'A' | 'W', rows: number, limit: 'M' | 'N', vec: boolean, tile: string) => {
    const T = X === 'A' ? 'a' : 'w';
    if (vec) {
      L.push(`fn fetch${X}(z: u32, row0: u32, k0: u32, e: u32) -> vec4<f32> {`);
      L.push(`  let r = row0 + e / ${TK / 4}u; let k = k0 + (e % ${TK / 4}u) * 4u;`);
      L.push(`  if (r >= ${limit} || k >= K) { return vec4<f32>(0.0); }`);
      L.push(`  return load${X}4(z, r, k);`, `}`);
      L.push(`fn put${X}(s: u32, e: u32, v: vec4<f32>) {`);
      L.push(`  let i = e / ${TK / 4}u; let kq = (e % ${TK / 4}u) * 4u;`);
      for (let j = 0; j < 4; j++) {
        L.push(`  { let x = (s * ${TK}u + kq + ${j}u) * ${rows}u + i; ${tile}[x >> 2u][x & 3u] = ${ST}(v[${j}]); }`);
      }
      L.push(`}`);
    } else {
      L.push(`fn fetch${X}(z: u32, row0: u32, k0: u32, e: u32) -> f32 {`);
      L.push(`  let r = row0 + e / ${TK}u; let k = k0 + e % ${TK}u;`);
      L.push(`  if (r >= ${limit} || k >= K) { return 0.0; }`);
      L.push(`  return load${X}(z, r, k);`, `}`);
      L.push(`fn put${X}(s: u32, e: u32, v: f32) {`);
      L.push(`  let x = (s * ${TK}u + e % ${TK}u) * ${rows}u + e / ${TK}u;`);
      L.push(`  ${tile}[x >> 2u][x & 3u] = ${ST}(v);`, `}`);
    }
    void T;
  };
  operand('A', TM, 'M', v.vec4A, 'As');
  operand('W', TN, 'N', v.vec4W, 'Ws');
  const PA = unitsPerThread(TM, v, v.vec4A);
  const PW = unitsPerThread(TN, v, v.vec4W);
  const fetchAll = (k0: string, ind: string, assign: (x: string, p: number) => string) => {
    const out: string[] = [];
    for (let p = 0; p < PA; p++) out.push(`${ind}${assign('a', p)} fetchA(z, m0, ${k0}, lid + ${p * threads}u);`);
    for (let p = 0; p < PW; p++) out.push(`${ind}${assign('w', p)} fetchW(z, n0, ${k0}, lid + ${p * threads}u);`);
    return out;
  };
  const putAll = (s: string, ind: string) => {
    const out: string[] = [];
    for (let p = 0; p < PA; p++) out.push(`${ind}putA(${s}, lid + ${p * threads}u, pa${p});`);
    for (let p = 0; p < PW; p++) out.push(`${ind}putW(${s}, lid + ${p * threads}u, pw${p});`);
    return out;
  };
  L.push(`@compute @workgroup_size(${TN / RN}, ${TM / RM})`);
  L.push(`fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>, @builtin(local_invocation_index) lid: u32) {`);
  L.push(`  let z = wid.z;`, `  let m0 = wid.y * ${TM}u;`, `  let n0 = wid.x * ${TN}u;`);
  for (let i = 0; i < RM; i++) L.push(`  ${Array.from({ length: RN / 4 }, (_, q) => `var acc${i}_${q} = vec4<f32>(0.0);`).join(' ')}`);
  const aType = v.vec4A ? 'vec4<f32>' : 'f32';
  const wType = v.vec4W ? 'vec4<f32>' : 'f32';
  L.push(...fetchAll('0u', '  ', (x, p) => `var p${x}${p}: ${x === 'a' ? aType : wType} =`));
  L.push(...putAll('0u', '  '));
  L.push(`  workgroupBarrier();`);
  L.push(`  for (var t = 0u; t < TILES_K; t++) {`);
  const s = v.stages === 2 ? 't & 1u' : '0u';
  L.push(`    let s = ${s};`);
  if (v.stages === 2) {
    L.push(`    if (t + 1u < TILES_K) {`);
    L.push(...fetchAll(`(t + 1u) * ${TK}u`, '      ', (x, p) => `p${x}${p} =`));
    L.push(`    }`);
  }
  L.push(`    for (var kk = 0u; kk < ${TK}u; kk++) {`);
  L.push(`      let ab = (s * ${TK}u + kk) * ${TM / 4}u + lid3.y * ${RM / 4}u;`);
  L.push(`      let wb = (s * ${TK}u + kk) * ${TN / 4}u + lid3.x * ${RN / 4}u;`);
  for (let q = 0; q < RM / 4; q++) L.push(`      let a${q} = As[ab + ${q}u];`);
  for (let q = 0; q < RN / 4; q++) L.push(`      let w${q} = Ws[wb + ${q}u];`);
  for (let i = 0; i < RM; i++) {
    const ai = `a${Math.floor(i / 4)}[${i % 4}]`;
    const terms = Array.from({ length: RN / 4 }, (_, q) => (v.math === 'f16' ? `acc${i}_${q} += vec4<f32>(${ai} * w${q});` : `acc${i}_${q} += ${ai} * w${q};`));
    L.push(`      ${terms.join(' ')}`);
  }
  L.push(`    }`);
  if (v.stages === 2) {
    L.push(`    if (t + 1u < TILES_K) {`);
    L.push(...putAll('1u - s', '      '));
    L.push(`    }`);
    L.push(`    workgroupBarrier();`);
  } else {
    L.push(`    workgroupBarrier();`);
    L.push(`    if (t + 1u < TILES_K) {`);
    L.push(...fetchAll(`(t + 1u) * ${TK}u`, '      ', (x, p) => `p${x}${p} =`));
    L.push(...putAll('0u', '      '));
    L.push(`    }`);
    L.push(`    workgroupBarrier();`);
  }
  L.push(`  }`);
  L.push(`  let r = m0 + lid3.y * ${RM}u; let n = n0 + lid3.x * ${RN}u;`);
  for (let i = 0; i < RM; i++) {
    for (let j = 0; j < RN; j++) L.push(`  store(z, r + ${i}u, n + ${j}u, acc${i}_${Math.floor(j / 4)}[${j % 4}]);`);
  }
  L.push(`}`);
  return L.join('\n');
}
