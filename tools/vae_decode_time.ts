/**
 * Measures one GPU decode of the full-size sd-vae-ft-ema decoder (random weights) in forward mode:
 *
 *   npx tsx tools/vae_decode_time.ts [--latent 32] [--batch 1] [--runs 2] [--weights vae.safetensors]
 *
 * Prints the compile time, the plan's activation memory and largest buffer, then the wall time of
 * each run (the first includes the adapter's pipeline JIT on lavapipe). Weights: the seeded random
 * generator (as `ditto weights random models/vae.ditto --model sd-vae-ft-ema`) unless a file is given.
 * Not a test: numbers depend on the machine (docs/vae.md records them).
 */
import { fileURLToPath } from 'node:url';
import { tensor } from '../core/tensor.ts';
import { openModel } from '../compiler/compileSource.ts';
import { compileForward } from '../compiler/forward.ts';
import { graphWeights } from '../compiler/ir/graph.ts';
import { compileCapsFor } from '../compiler/plan/caps.ts';
import { createGpu } from '../runtime/device.ts';
import { createForwardRunner } from '../runtime/run/forwardRunner.ts';
import { loadWeights, randomWeights } from '../runtime/weights/index.ts';
import { vaeDecoderWeights } from '../runtime/weights/vaeNames.ts';

const arg = (name: string, d: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : d;
};
const latent = Number(arg('latent', '32'));
const batch = Number(arg('batch', '1'));
const runs = Number(arg('runs', '2'));
const file = process.argv.includes('--weights') ? arg('weights', '') : undefined;

const { graph } = openModel(fileURLToPath(new URL('../models/vae.ditto', import.meta.url)), { model: 'sd-vae-ft-ema', set: { latent }, batch, cfg: false });
const weights = file ? vaeDecoderWeights(loadWeights(file)).tensors : randomWeights(graphWeights(graph), 0);
const gpu = await createGpu();
const t0 = performance.now();
const { plan } = compileForward(graph, { caps: compileCapsFor(gpu.report) });
const mib = (b: number) => (b / 2 ** 20).toFixed(1);
const acts = plan.buffers.filter((b) => b.kind === 'activation');
console.log(`compiled in ${((performance.now() - t0) / 1000).toFixed(2)} s: ${plan.body.dispatches.length} dispatches, ${plan.kernels.length} kernels, ` +
  `${(plan.cost.body.flops / 1e9).toFixed(1)} GFLOP; activations ${acts.length} buffers, ${mib(acts.reduce((a, b) => a + b.bytes, 0))} MiB, largest ${mib(Math.max(...acts.map((b) => b.bytes)))} MiB; adapter ${gpu.report.name}`);
const runner = await createForwardRunner(plan, weights, { gpu });
const z = tensor([batch, 4, latent, latent], Float32Array.from({ length: batch * 4 * latent * latent }, (_, i) => Math.sin(i * 0.37) * 0.9));
for (let r = 0; r < runs; r++) {
  const out = await runner.run({ z });
  const img = out.outputs.image!;
  let finite = true;
  for (const v of img.data) if (!Number.isFinite(v)) finite = false;
  console.log(`run ${r + 1}: ${out.seconds.toFixed(2)} s for ${batch} image(s) of ${8 * latent}×${8 * latent}${r === 0 ? ' (includes pipeline JIT)' : ''}; finite: ${finite}`);
}
runner.destroy();
gpu.device.destroy();
