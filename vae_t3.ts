import { createGpu } from './runtime/device.ts';
import { timeKernel } from './runtime/kernelRunner.ts';
import { capsFromReport, emitConv2d, selectConv2d, emitGroupNorm, selectGroupNorm } from './compiler/kernels/index.ts';
const gpu = await createGpu();
const caps = capsFromReport(gpu.report);
for (const [C, H] of [[512, 32], [128, 128]] as const) {
  const k = emitConv2d(selectConv2d({ B: 1, Cin: C, H, W: H, Cout: C, kernel: 3, padding: 1, bias: true }, caps));
  const data = { x: new Float32Array(C * H * H).fill(0.5), w: new Float32Array(C * C * 9).fill(0.01), bias: new Float32Array(C), y: new Float32Array(C * H * H) };
  const ms = await timeKernel(gpu, k, data, 2);
  console.log(`lavapipe conv ${C}→${C} 3×3 ${H}²: ${ms.toFixed(0)} ms, ${((2 * C * C * 9 * H * H) / ms / 1e6).toFixed(1)} GFLOP/s`);
}
const g = emitGroupNorm(selectGroupNorm({ B: 1, C: 128, S: 256 * 256, groups: 32, eps: 1e-6, silu: true }, caps));
const ms = await timeKernel(gpu, g, { x: new Float32Array(128 * 65536).fill(1), weight: new Float32Array(128), bias: new Float32Array(128), y: new Float32Array(128 * 65536) }, 2);
console.log(`lavapipe group_norm+silu 128×256²: ${ms.toFixed(0)} ms`);
process.exit(0);
