/**
 * The subgroup-matrix matmul, for adapters that expose Dawn's experimental
 * `chromium-experimental-subgroup-matrix` feature (Vulkan cooperative matrices, Metal simdgroup
 * matrices: the tensor cores, where the driver maps them). Not measured: no adapter ditto has run
 * on exposes it (lavapipe does not; the H200 through Dawn needs `allow_unsafe_apis`).
 *
 * A workgroup is 2×2 subgroups; each subgroup owns fragsM × fragsN result fragments of
 * fragM × fragN. Per K tile, the workgroup stages A (row-major, [m][k]) and W ([n][k], which is the
 * right operand Wᵀ read column-major) in workgroup memory in the fragment's component type
 * (zero-filled outside the problem), and every subgroup multiplies fragments with
 * subgroupMatrixMultiplyAccumulate into f32 results. The results go through workgroup memory once
 * at the end, so the fused epilogue and the guarded store are the same code as the other variants'.
 */
import { DittoError } from '../../core/errors.ts';
import type { MatmulConfig, MatmulSubgroupMatrixVariant } from './matmulCommon.ts';

export function subgroupMatrixTile(v: MatmulSubgroupMatrixVariant): { TM: number; TN: number; threads: number } {
  return { TM: 2 * v.fragsM * v.fragM, TN: 2 * v.fragsN * v.fragN, threads: 4 * v.subgroupSize };
}

export function subgroupMatrixStorageBytes(v: MatmulSubgroupMatrixVariant): number {
  const { TM, TN } = subgroupMatrixTile(v);
  return (TM + TN) * v.tileK * (v.component === 'f16' ? 2 : 4) + TM * TN * 4;
}

export function emitSubgroupMatrixMatmul(c: MatmulConfig, v: MatmulSubgroupMatrixVariant): string {
  if (v.tileK % v.fragK) throw new DittoError('E_INTERNAL', `matmul subgroup_matrix: tileK ${v.tileK} is not a multiple of the fragment's K ${v.fragK}`);
  const { TM, TN, threads } = subgroupMatrixTile(v);
  const TK = v.tileK;
  const CT = v.component;
  const left = `subgroup_matrix_left<${CT}, ${v.fragK}, ${v.fragM}>`;
  const right = `subgroup_matrix_right<${CT}, ${v.fragN}, ${v.fragK}>`;
  const result = `subgroup_matrix_result<f32, ${v.fragN}, ${v.fragM}>`;
  const L: string[] = [];
  L.push(`var<workgroup> As: array<${CT}, ${TM * TK}>; // [m][k]`);
  L.push(`var<workgroup> Ws: array<${CT}, ${TN * TK}>; // [n][k]`);
  L.push(`var<workgroup> Cs: array<f32, ${TM * TN}>; // [m][n]`);
  L.push(`@compute @workgroup_size(${threads})`);
  L.push(`fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {`);
  L.push(`  let z = wid.z;`, `  let m0 = wid.y * ${TM}u;`, `  let n0 = wid.x * ${TN}u;`);
  L.push(`  let sg = lid / ${v.subgroupSize}u;`);
  L.push(`  let sm = (sg / 2u) * ${v.fragsM * v.fragM}u;`, `  let sn = (sg % 2u) * ${v.fragsN * v.fragN}u;`);
  for (let i = 0; i < v.fragsM; i++) for (let j = 0; j < v.fragsN; j++) L.push(`  var acc${i}_${j} = ${result}();`);
  L.push(`  for (var k0 = 0u; k0 < K; k0 += ${TK}u) {`);
  L.push(`    for (var e = lid; e < ${TM * TK}u; e += ${threads}u) {`);
  L.push(`      let r = m0 + e / ${TK}u; let k = k0 + e % ${TK}u;`);
  L.push(`      var x = 0.0; if (r < M && k < K) { x = loadA(z, r, k); }`);
  L.push(`      As[e] = ${CT}(x);`);
  L.push(`    }`);
  L.push(`    for (var e = lid; e < ${TN * TK}u; e += ${threads}u) {`);
  L.push(`      let n = n0 + e / ${TK}u; let k = k0 + e % ${TK}u;`);
  L.push(`      var x = 0.0; if (n < N && k < K) { x = loadW(z, n, k); }`);
  L.push(`      Ws[e] = ${CT}(x);`);
  L.push(`    }`);
  L.push(`    workgroupBarrier();`);
  L.push(`    for (var kf = 0u; kf < ${TK}u; kf += ${v.fragK}u) {`);
  for (let i = 0; i < v.fragsM; i++) L.push(`      let l${i} = subgroupMatrixLoad<${left}>(&As, (sm + ${i * v.fragM}u) * ${TK}u + kf, false, ${TK}u);`);
  for (let j = 0; j < v.fragsN; j++) L.push(`      let r${j} = subgroupMatrixLoad<${right}>(&Ws, (sn + ${j * v.fragN}u) * ${TK}u + kf, true, ${TK}u);`);
  for (let i = 0; i < v.fragsM; i++) for (let j = 0; j < v.fragsN; j++) L.push(`      acc${i}_${j} = subgroupMatrixMultiplyAccumulate(l${i}, r${j}, acc${i}_${j});`);
  L.push(`    }`);
  L.push(`    workgroupBarrier();`);
  L.push(`  }`);
  for (let i = 0; i < v.fragsM; i++) {
    for (let j = 0; j < v.fragsN; j++) L.push(`  subgroupMatrixStore(&Cs, (sm + ${i * v.fragM}u) * ${TN}u + sn + ${j * v.fragN}u, acc${i}_${j}, false, ${TN}u);`);
  }
  L.push(`  workgroupBarrier();`);
  L.push(`  for (var e = lid; e < ${TM * TN}u; e += ${threads}u) {`);
  L.push(`    store(z, m0 + e / ${TN}u, n0 + e % ${TN}u, Cs[e]);`);
  L.push(`  }`);
  L.push(`}`);
  return L.join('\n');
}
