/**
 * The search's toy model: a 4-block DiT of 1×8×8 images (4 tokens of width 32) with random weights,
 * in which blocks 2 and 3 are the identity — their adaLN gates (gate_msa, gate_mlp) are zero, so
 * their attention and MLP add nothing. Reusing or skipping those blocks costs no fidelity at all,
 * while blocks 0 and 1 have their gates opened to 1 (random gates are tiny), so they matter. This
 * gives the search a known optimum: skip blocks 2–3 at every step after the first.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadProgram, lowerModel } from '../../compiler/frontend.ts';
import { graphWeights } from '../../compiler/ir/graph.ts';
import { randomWeights } from '../../runtime/weights/index.ts';
import type { Tensor } from '../../core/tensor.ts';
import { packagePath } from '../../core/packageRoot.ts';

export const TOY_HIDDEN = 32;
export const IDENTITY_BLOCKS = [2, 3];

export function toyModelFile(dir = mkdtempSync(path.join(tmpdir(), 'ditto-search-toy-'))): string {
  const file = path.join(dir, 'toy.ditto');
  writeFileSync(file, `use "${packagePath('models', 'dit.ditto')}"\nvariant Toy = DiT(depth = 4, hidden = ${TOY_HIDDEN}, heads = 2, patch = 4, latent = 8, channels = 1, classes = 10, learn_sigma = 0)\n`);
  return file;
}

export function toyWeights(modelFile: string, seed = 7): Map<string, Tensor> {
  const graph = lowerModel(loadProgram(modelFile), { model: 'Toy', batch: 2 });
  const w = randomWeights(graphWeights(graph), seed);
  const H = TOY_HIDDEN;
  // Random weights are small: the predicted noise would barely depend on the blocks. Scale the
  // output layer up, and open the other blocks' gates, so that what they compute matters.
  const scale = (name: string, by: number) => w.get(name)!.data.forEach((v, i, a) => (a[i] = v * by));
  scale('final_layer.linear.weight', 30);
  for (let b = 0; b < 4; b++) {
    if (IDENTITY_BLOCKS.includes(b)) continue;
    const bias = w.get(`blocks.${b}.adaLN_modulation.1.bias`)!;
    for (const chunk of [2, 5]) bias.data.fill(1, chunk * H, (chunk + 1) * H);
    scale(`blocks.${b}.mlp.fc2.weight`, 4);
    scale(`blocks.${b}.attn.proj.weight`, 4);
  }
  for (const b of IDENTITY_BLOCKS) {
    const weight = w.get(`blocks.${b}.adaLN_modulation.1.weight`)!;
    const bias = w.get(`blocks.${b}.adaLN_modulation.1.bias`)!;
    // Chunks of the 6·hidden outputs: shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp.
    for (const chunk of [2, 5]) {
      for (let r = chunk * H; r < (chunk + 1) * H; r++) {
        bias.data[r] = 0;
        weight.data.fill(0, r * H, (r + 1) * H);
      }
    }
  }
  return w;
}
