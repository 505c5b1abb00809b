import { describe, expect, it } from 'vitest';
import { matmulOnnx } from '../../bench/peer/onnxMatmul.ts';
import { loadOrt, openSession } from '../../bench/peer/onnxruntime.ts';

function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}

describe('matmulOnnx (hand-written ONNX, run by onnxruntime-node on the CPU)', () => {
  it.each([[3, 5, 7], [16, 64, 32], [1, 1, 1]])('computes A·W for M=%i N=%i K=%i', async (M, N, K) => {
    const a = rand(M * K, 1);
    const w = rand(K * N, 2);
    const session = await openSession(matmulOnnx(M, N, K, w), 'cpu', { threads: 1 });
    const ort = loadOrt();
    const out = await session.run({ A: new ort.Tensor('float32', a, [M, K]) });
    const c = out.C!;
    expect(c.dims).toEqual([M, N]);
    const want = new Float32Array(M * N);
    for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += a[i * K + k]! * w[k * N + j]!;
      want[i * N + j] = s;
    }
    expect(c.data as Float32Array).toAllClose(want, { atol: 1e-5, rtol: 1e-5 });
    await session.release();
  });

  it('rejects a W of the wrong size', () => {
    expect(() => matmulOnnx(2, 3, 4, new Float32Array(5))).toThrow(/expected K·N = 12/);
  });
});
