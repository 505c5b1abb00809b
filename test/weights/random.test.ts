import { describe, expect, it } from 'vitest';
import { graphWeights } from '../../compiler/ir/graph.ts';
import { loadWeights, posEmbed2d, randomWeights } from '../../runtime/weights/index.ts';
import { uniformHalfWidth } from '../../runtime/weights/random.ts';
import { buildDiTGraph, TINY_DIT } from '../helpers/ditGraph.ts';
import { fixture } from './helpers.ts';

const expected = graphWeights(buildDiTGraph(TINY_DIT, 1));

function std(a: Float32Array | Int32Array): number {
  let s = 0;
  let s2 = 0;
  for (const v of a) {
    s += v;
    s2 += v * v;
  }
  const m = s / a.length;
  return Math.sqrt(s2 / a.length - m * m);
}

describe('randomWeights', () => {
  it('is deterministic for a seed and differs between seeds', () => {
    const a = randomWeights(expected, 7);
    const b = randomWeights(expected, 7);
    const c = randomWeights(expected, 8);
    for (const w of expected) {
      expect(Array.from(a.get(w.name)!.data), w.name).toEqual(Array.from(b.get(w.name)!.data));
      if (w.name !== 'pos_embed') expect(Array.from(a.get(w.name)!.data), w.name).not.toEqual(Array.from(c.get(w.name)!.data));
    }
  });

  it('gives each tensor its own stream (a tensor does not depend on the others)', () => {
    const all = randomWeights(expected, 3);
    const one = randomWeights([expected.find((w) => w.name === 'blocks.1.mlp.fc1.weight')!], 3);
    expect(Array.from(one.get('blocks.1.mlp.fc1.weight')!.data)).toEqual(Array.from(all.get('blocks.1.mlp.fc1.weight')!.data));
  });

  it('has every expected tensor with its shape, all finite, and adaLN and final layer non-zero', () => {
    const ws = randomWeights(expected, 0);
    expect([...ws.keys()]).toEqual(expected.map((w) => w.name));
    for (const w of expected) {
      const t = ws.get(w.name)!;
      expect(t.shape).toEqual(w.shape);
      expect(t.data.every(Number.isFinite)).toBe(true);
    }
    for (const name of ['blocks.0.adaLN_modulation.1.weight', 'blocks.1.adaLN_modulation.1.bias', 'final_layer.linear.weight', 'final_layer.adaLN_modulation.1.weight']) {
      const d = ws.get(name)!.data;
      expect(d.every((v) => v !== 0), name).toBe(true);
      expect(std(d)).toBeGreaterThan(0.015);
      expect(std(d)).toBeLessThan(0.025);
    }
  });

  it('scales linear weights Xavier-like and embeddings like N(0, 0.02)', () => {
    const ws = randomWeights(expected, 1);
    const qkv = ws.get('blocks.0.attn.qkv.weight')!.data; // [192, 64]
    const a = Math.sqrt(6 / (64 + 192));
    expect(uniformHalfWidth('blocks.0.attn.qkv.weight', [192, 64])).toBeCloseTo(a, 12);
    expect(Math.max(...qkv)).toBeLessThanOrEqual(a);
    expect(Math.min(...qkv)).toBeGreaterThanOrEqual(-a);
    expect(std(qkv)).toBeCloseTo(a / Math.sqrt(3), 2);
    expect(uniformHalfWidth('x_embedder.proj.weight', [64, 4, 2, 2])).toBeCloseTo(Math.sqrt(6 / (16 + 64)), 12);
    expect(std(ws.get('y_embedder.embedding_table.weight')!.data)).toBeCloseTo(0.02, 2);
  });

  it('centres normalisation scales on 1 and leaves their biases and other 1-D tensors near 0', () => {
    const refs = [
      { name: 'decoder.mid_block.resnets.0.norm1.weight', shape: [64] },
      { name: 'decoder.mid_block.resnets.0.norm1.bias', shape: [64] },
      { name: 'decoder.mid_block.attentions.0.group_norm.weight', shape: [64] },
      { name: 'decoder.conv_norm_out.weight', shape: [64] },
      { name: 'blocks.0.attn.qkv.bias', shape: [64] },
    ];
    const w = randomWeights(refs, 3);
    const mean = (n: string) => Array.from(w.get(n)!.data).reduce((a, b) => a + b, 0) / 64;
    for (const n of ['decoder.mid_block.resnets.0.norm1.weight', 'decoder.mid_block.attentions.0.group_norm.weight', 'decoder.conv_norm_out.weight']) {
      expect(Math.abs(mean(n) - 1)).toBeLessThan(0.02);
      expect(Array.from(w.get(n)!.data).every((v) => Math.abs(v - 1) < 0.05)).toBe(true);
    }
    for (const n of ['decoder.mid_block.resnets.0.norm1.bias', 'blocks.0.attn.qkv.bias']) expect(Math.abs(mean(n))).toBeLessThan(0.02);
  });

  it('fills pos_embed with the exact 2-D sin-cos embedding', () => {
    const ws = randomWeights(expected, 5);
    expect(Array.from(ws.get('pos_embed')!.data)).toEqual(Array.from(posEmbed2d(64, 4)));
  });
});

describe('posEmbed2d', () => {
  it('matches the numpy float64 reference (grid 8, width 64) to the float32 ulp', () => {
    const want = loadWeights(fixture('pos_embed_g8_d64.safetensors')).tensors.get('pos_embed')!;
    expect(want.shape).toEqual([1, 64, 64]);
    const got = posEmbed2d(64, 8);
    let maxUlps = 0;
    for (let i = 0; i < got.length; i++) {
      const ulp = Math.max(2 ** -149, 2 ** (Math.floor(Math.log2(Math.abs(want.data[i]!) || 1)) - 23));
      maxUlps = Math.max(maxUlps, Math.abs(got[i]! - want.data[i]!) / ulp);
    }
    expect(maxUlps).toBeLessThanOrEqual(1);
  });

  it('puts the column in the first half, sin before cos', () => {
    const g = 4;
    const D = 8; // quarter = 2 frequencies: ω = [1, 0.01]
    const e = posEmbed2d(D, g);
    const tok = (i: number, j: number) => Array.from(e.subarray((i * g + j) * D, (i * g + j + 1) * D));
    const f = Math.fround;
    expect(tok(1, 3)).toEqual([f(Math.sin(3)), f(Math.sin(0.03)), f(Math.cos(3)), f(Math.cos(0.03)), f(Math.sin(1)), f(Math.sin(0.01)), f(Math.cos(1)), f(Math.cos(0.01))]);
  });

  it('rejects widths not divisible by 4', () => {
    expect(() => posEmbed2d(6, 2)).toThrow(/divisible by 4/);
  });
});
