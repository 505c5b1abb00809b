/**
 * The software-adapter matmul (docs/lavapipe.md "Kernels on the software adapter"): no workgroup memory, no barriers. lavapipe
 * runs 8 invocations per vector and turns every per-lane buffer load into 8 masked scalar loads,
 * while FMAs and constant-lane broadcasts are cheap, so the kernel minimises loads per FMA: each
 * invocation owns `rows` rows × `cols` columns; per K block each lane loads rows/subgroup A rows
 * (shared across the subgroup with subgroupBroadcast) and its own `cols` W rows. Loads per FMA are
 * 1/(subgroup·cols) + 1/rows, so deeper row blocking (16 rows: each lane loads two A rows) halves
 * the W share. Rows and columns past M/N are clamped to the last valid one (no branch before the
 * broadcasts, which need uniform control flow) and dropped at the store; the K tail is one block
 * whose out-of-range lanes are statically zero (K is a const).
 */
import type { MatmulConfig, MatmulSubgroupVariant } from './matmulCommon.ts';

export function emitSubgroupMatmul(c: MatmulConfig, v: MatmulSubgroupVariant): string {
  const R = v.rows;
  const sg = v.subgroup;
  const RL = Math.ceil(R / sg); // A rows each lane loads per K block
  const C = v.cols;
  const KB = v.kBlock;
  const H = KB / 4; // vec4s per K block
  const colsPerGroup = C * v.lanes;
  const step = KB * v.unroll;
  const kFull = Math.floor(c.K / step) * step;
  const kBlocks = Math.floor((c.K - kFull) / KB);
  const tail = c.K - kFull - kBlocks * KB;
  // One KB-wide K block; `valid(j)` says statically whether k0+j < K (only false in the tail block).
  const block = (k0: string, valid: (j: number) => boolean, ind: string): string => {
    const L: string[] = [];
    const vec = (f: (kk: number) => string, h: number) => `vec4<f32>(${[0, 1, 2, 3].map((j) => (valid(4 * h + j) ? f(4 * h + j) : '0.0')).join(', ')})`;
    // vec4 loads only on aligned layouts (K a multiple of 4), where a 4-wide piece is all in or all out of range.
    const load = (four: boolean, fn: string, row: string, h: number) =>
      !valid(4 * h) ? 'vec4<f32>(0.0)' : four ? `${fn}4(z, ${row}, ${k0} + ${4 * h}u)` : vec((kk) => `${fn}(z, ${row}, ${k0} + ${kk}u)`, h);
    for (let i = 0; i < RL; i++) for (let h = 0; h < H; h++) L.push(`let a${i}_${h} = ${load(v.vec4A, 'loadA', `ra${i}`, h)};`);
    for (let j = 0; j < C; j++) for (let h = 0; h < H; h++) L.push(`let w${j}_${h} = ${load(v.vec4W, 'loadW', `n${j}`, h)};`);
    for (let r = 0; r < R; r++) {
      const i = Math.floor(r / sg);
      const lane = r % sg;
      const xs = Array.from({ length: H }, (_, h) => `let x${h} = subgroupBroadcast(a${i}_${h}, ${lane}u);`).join(' ');
      L.push(`{ ${xs}`);
      // Outer-product form: each accumulator (4 columns of one row) takes one fma per k, so the
      // FMAs are explicit and no dot-product adds are spent (lavapipe lanes are scalar, SoA).
      for (let q = 0; q < C / 4; q++) {
        for (let h = 0; h < H; h++) {
          for (let kk = 0; kk < 4; kk++) {
            const wt = [0, 1, 2, 3].map((jj) => `w${4 * q + jj}_${h}[${kk}]`).join(', ');
            L.push(`  acc${r}_${q} = fma(vec4<f32>(x${h}[${kk}]), vec4<f32>(${wt}), acc${r}_${q});`);
          }
        }
      }
      L.push(`}`);
    }
    return L.map((l) => ind + l).join('\n');
  };
  const L: string[] = [];
  L.push(`@compute @workgroup_size(${v.lanes})`);
  L.push(`fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32, @builtin(subgroup_invocation_id) sl: u32) {`);
  L.push(`  let z = wid.z;`);
  // Row blocks in x, the fastest-varying workgroup index on lavapipe: consecutive workgroups share
  // one W block (colsPerGroup rows of W, reused from cache across every row block) and stream A,
  // the smaller operand at DiT shapes (M = 512 against N = 1152…4608), instead of streaming W once per row block.
  L.push(`  let r0 = wid.x * ${R}u;`);
  L.push(`  let c0 = wid.y * ${colsPerGroup}u + lid * ${C}u;`);
  L.push(`  // Out-of-range rows/columns read the last valid one; their results are dropped by store().`);
  for (let i = 0; i < RL; i++) L.push(`  let ra${i} = min(r0 + ${i * sg}u + sl, M - 1u);`);
  for (let j = 0; j < C; j++) L.push(`  let n${j} = min(c0 + ${j}u, N - 1u);`);
  for (let r = 0; r < R; r++) for (let q = 0; q < C / 4; q++) L.push(`  var acc${r}_${q} = vec4<f32>(0.0);`);
  if (kFull > 0) {
    L.push(`  for (var k0 = 0u; k0 < ${kFull}u; k0 += ${step}u) {`);
    for (let u = 0; u < v.unroll; u++) {
      L.push(`    {`);
      L.push(`      let kb = k0 + ${u * KB}u;`);
      L.push(block('kb', () => true, '      '));
      L.push(`    }`);
    }
    L.push(`  }`);
  }
  for (let b = 0; b < kBlocks; b++) {
    L.push(`  {`, `    let kb = ${kFull + b * KB}u;`, block('kb', () => true, '    '), `  }`);
  }
  if (tail > 0) {
    L.push(`  {`, `    let kb = ${kFull + kBlocks * KB}u;`, block('kb', (j) => j < tail, '    '), `  }`);
  }
  for (let r = 0; r < R; r++) {
    for (let j = 0; j < C; j++) L.push(`  store(z, r0 + ${r}u, c0 + ${j}u, acc${r}_${Math.floor(j / 4)}[${j % 4}]);`);
  }
  L.push(`}`);
  return L.join('\n');
}
