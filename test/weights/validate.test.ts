import { describe, expect, it } from 'vitest';
import { DittoError } from '../../core/errors.ts';
import { numel, tensor, type Tensor } from '../../core/tensor.ts';
import { graphWeights, type WeightRef } from '../../compiler/ir/graph.ts';
import { validateWeights, type WeightSet } from '../../runtime/weights/index.ts';
import { buildDiTGraph, DIT_XL_2, TINY_DIT, type DiTConfig } from '../helpers/ditGraph.ts';

const variant = (depth: number, hidden: number, heads: number): DiTConfig => ({ ...DIT_XL_2, depth, hidden, heads });

describe('the DiT weight list', () => {
  it.each([
    ['S/2', variant(12, 384, 6), 32_865_056],
    ['B/2', variant(12, 768, 12), 130_315_808],
    ['L/2', variant(24, 1024, 16), 457_840_672],
    ['XL/2', variant(28, 1152, 16), 674_834_720],
  ])('DiT-%s has the official parameter total', (_, cfg, total) => {
    const ws = graphWeights(buildDiTGraph(cfg, 1));
    expect(ws.filter((w) => !w.optional).reduce((s, w) => s + numel(w.shape), 0)).toBe(total);
  });

  it('DiT-XL/2 has 292 tensors including pos_embed, with the official names and shapes', () => {
    const ws = graphWeights(buildDiTGraph(DIT_XL_2, 1));
    expect(ws).toHaveLength(292);
    const byName = new Map(ws.map((w) => [w.name, w]));
    expect(byName.get('pos_embed')).toEqual({ name: 'pos_embed', shape: [1, 256, 1152], optional: true });
    expect(byName.get('x_embedder.proj.weight')!.shape).toEqual([1152, 4, 2, 2]);
    expect(byName.get('y_embedder.embedding_table.weight')!.shape).toEqual([1001, 1152]);
    expect(byName.get('blocks.27.attn.qkv.weight')!.shape).toEqual([3456, 1152]);
    expect(byName.get('blocks.0.adaLN_modulation.1.weight')!.shape).toEqual([6912, 1152]);
    expect(byName.get('final_layer.linear.weight')!.shape).toEqual([32, 1152]);
    expect(byName.get('final_layer.adaLN_modulation.1.bias')!.shape).toEqual([2304]);
    expect(ws.filter((w) => w.optional).map((w) => w.name)).toEqual(['pos_embed']);
  });
});

function zerosFor(expected: WeightRef[]): Map<string, Tensor> {
  return new Map(expected.map((w) => [w.name, tensor(w.shape)]));
}

function validationMessage(ws: WeightSet, expected: WeightRef[]): string {
  try {
    validateWeights(ws, expected);
  } catch (e) {
    expect(e).toBeInstanceOf(DittoError);
    expect((e as DittoError).code).toBe('E_WEIGHTS');
    return (e as DittoError).message;
  }
  throw new Error('expected validation to fail');
}

describe('validateWeights', () => {
  const expected = graphWeights(buildDiTGraph(TINY_DIT, 1));

  it('accepts a complete set, with or without the optional pos_embed', () => {
    const full = zerosFor(expected);
    expect(() => validateWeights({ tensors: full, format: 'safetensors', path: 'w' }, expected)).not.toThrow();
    full.delete('pos_embed');
    expect(() => validateWeights({ tensors: full, format: 'safetensors', path: 'w' }, expected)).not.toThrow();
  });

  it('a missing tensor', () => {
    const t = zerosFor(expected);
    t.delete('blocks.1.mlp.fc2.bias');
    const msg = validationMessage({ tensors: t, format: 'pytorch', path: 'w.pt' }, expected);
    expect(msg).toBe("weights 'w.pt' do not match the model: 1 missing\nmissing tensors (1):\n  blocks.1.mlp.fc2.bias [64]");
  });

  it('an extra tensor', () => {
    const t = zerosFor(expected);
    t.set('blocks.2.attn.qkv.weight', tensor([192, 64]));
    const msg = validationMessage({ tensors: t, format: 'safetensors', path: 'w' }, expected);
    expect(msg).toBe("weights 'w' do not match the model: 1 unexpected\nunexpected tensors (1):\n  blocks.2.attn.qkv.weight [192, 64]");
  });

  it('a wrong shape, with both shapes (also for the optional pos_embed)', () => {
    const t = zerosFor(expected);
    t.set('y_embedder.embedding_table.weight', tensor([10, 64]));
    t.set('pos_embed', tensor([1, 64, 64]));
    const msg = validationMessage({ tensors: t, format: 'safetensors', path: 'w' }, expected);
    expect(msg).toContain('2 mis-shaped');
    expect(msg).toContain('y_embedder.embedding_table.weight: the model expects [11, 64], the file has [10, 64]');
    expect(msg).toContain('pos_embed: the model expects [1, 16, 64], the file has [1, 64, 64]');
  });

  it('lists every problem at once', () => {
    const t = zerosFor(expected);
    t.delete('t_embedder.mlp.0.weight');
    t.delete('blocks.0.attn.proj.bias');
    t.set('extra.a', tensor([1]));
    t.set('extra.b', tensor([2]));
    t.set('final_layer.linear.weight', tensor([16, 64]));
    const msg = validationMessage({ tensors: t, format: 'safetensors', path: 'w' }, expected);
    expect(msg.split('\n')[0]).toBe("weights 'w' do not match the model: 2 missing, 2 unexpected, 1 mis-shaped");
    for (const s of ['t_embedder.mlp.0.weight [64, 256]', 'blocks.0.attn.proj.bias [64]', 'extra.a [1]', 'extra.b [2]', 'final_layer.linear.weight: the model expects [32, 64], the file has [16, 64]']) {
      expect(msg).toContain(s);
    }
  });

  it('shortens very long lists', () => {
    const msg = validationMessage({ tensors: new Map(), format: 'safetensors', path: 'w' }, graphWeights(buildDiTGraph(DIT_XL_2, 1)));
    expect(msg.split('\n')[0]).toBe("weights 'w' do not match the model: 291 missing");
    expect(msg).toContain('… and 251 more');
  });
});
