import { loadProgram, lowerModel } from './compiler/frontend.ts';
import { conv2d } from './runtime/reference/imageOps.ts';
import { tensor } from './core/tensor.ts';
const g = lowerModel(loadProgram('models/vae.ditto'), { model: 'sd-vae-ft-ema', batch: 1 });
let macs = 0;
for (const n of g.nodes) {
  if (n.op.kind === 'conv2d') macs += n.shape.reduce((a, b) => a * b, 1) * n.op.inChannels * n.op.kernel * n.op.kernel;
  if (n.op.kind === 'linear') macs += n.shape.reduce((a, b) => a * b, 1) * n.op.inFeatures;
  if (n.op.kind === 'attention') macs += 2 * n.shape[1]! * n.shape[1]! * n.shape[2]!;
}
console.log('GMAC', (macs / 1e9).toFixed(1));
const C = 512, H = 32;
const x = tensor([1, C, H, H], Float32Array.from({ length: C * H * H }, () => Math.random()));
const w = tensor([C, C, 3, 3], Float32Array.from({ length: C * C * 9 }, () => Math.random() - 0.5));
const t0 = performance.now();
conv2d(x, w, undefined, 1);
const s = (performance.now() - t0) / 1000;
const m = C * C * 9 * H * H;
console.log(`conv 512→512 3×3 32²: ${s.toFixed(2)} s, ${(m / s / 1e9).toFixed(2)} GMAC/s → decoder estimate ${(macs / (m / s)).toFixed(0)} s`);
