import { describe, expect, it } from 'vitest';
import { loadProgram, lowerModel, listModels, parseSetFlag } from '../../compiler/frontend.ts';
import type { Graph } from '../../compiler/ir/graph.ts';
import { DittoError } from '../../core/errors.ts';
import { DIT_XL_2, TINY_DIT, buildDiTGraph } from '../helpers/ditGraph.ts';
import { DIT_PATH } from './helpers.ts';

/** The graph without source spans (the fixture has none). */
function structure(g: Graph) {
  return {
    ...g,
    nodes: g.nodes.map(({ span: _span, ...n }) => ({ ...n, path: n.path })),
  };
}

describe('lowering models/dit.ditto', () => {
  const program = loadProgram(DIT_PATH);

  it('lowers the tiny DiT to exactly the fixture graph', () => {
    const g = lowerModel(program, { model: 'DiT-Tiny', batch: 2 });
    expect(structure(g)).toEqual(structure(buildDiTGraph(TINY_DIT, 2)));
  });

  it('lowers DiT with --set overrides to the same graph as the tiny fixture', () => {
    const { depth, hidden, heads, patch, latent, classes } = TINY_DIT;
    const g = lowerModel(program, { model: 'DiT', set: { depth, hidden, heads, patch, latent, classes }, batch: 3 });
    expect(structure(g)).toEqual(structure(buildDiTGraph(TINY_DIT, 3)));
  });

  it('lowers DiT-XL/2 (default parameters) to the DIT_XL_2 fixture', () => {
    const g = lowerModel(program, { model: 'DiT-XL/2', batch: 1 });
    expect(structure(g)).toEqual(structure(buildDiTGraph(DIT_XL_2, 1)));
    expect(g.blocks).toHaveLength(28);
  });

  it('has block instances with carried input and output and the addressable nodes', () => {
    const g = lowerModel(program, { model: 'DiT-Tiny', batch: 1 });
    const b1 = g.blocks[1]!;
    expect(b1.path).toBe('blocks[1]');
    expect(b1.input).toBe(g.blocks[0]!.output);
    expect(g.nodes[b1.output]!.path).toBe('blocks[1].h');
    for (const p of ['blocks[0].attn', 'blocks[1].mlp', 'out', 'c']) expect(g.nodes.some((n) => n.path === p)).toBe(true);
    expect(g.nodes.find((n) => n.path === 'blocks[0].attn')!.span?.file).toBe(DIT_PATH);
  });

  it('has every variant of the family at 256 and 512 px with the official weight names', () => {
    const names = listModels(program).map((m) => m.name);
    for (const size of ['S', 'B', 'L', 'XL']) for (const p of [2, 4, 8]) for (const suffix of ['', '-256', '-512']) expect(names).toContain(`DiT-${size}/${p}${suffix}`);
    const g = lowerModel(program, { model: 'DiT-B/4-512', batch: 1 });
    expect(g.params.latent).toBe(64);
    expect(g.nodes[g.outputs[0]!.node]!.shape).toEqual([1, 8, 64, 64]);
    const w = g.nodes.flatMap((n) => n.weights.map((x) => x.name));
    expect(w).toContain('blocks.11.attn.qkv.weight');
    expect(w).toContain('final_layer.adaLN_modulation.1.bias');
    expect(w).not.toContain('blocks.12.attn.qkv.weight');
  });

  it('rejects unknown models and --set keys, listing the valid ones', () => {
    expect(() => lowerModel(program, { model: 'DiT-XL/3', batch: 1 })).toThrow(/unknown model `DiT-XL\/3`.*did you mean `DiT-XL\/2`\?.*valid models and variants: DiT, DiT-S\/2/);
    try {
      lowerModel(program, { model: 'DiT', set: { latnet: 8 }, batch: 1 });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(DittoError);
      expect((e as DittoError).message).toMatch(/--set latnet: model `DiT` has no parameter `latnet`; valid: depth, hidden, .*did you mean `latent`/);
    }
  });

  it('reports shape errors from --set values with the source span', () => {
    try {
      lowerModel(program, { model: 'DiT', set: { latent: 9 }, batch: 1 });
      expect.unreachable();
    } catch (e) {
      const err = e as DittoError;
      expect(err.code).toBe('E_CHECK');
      expect(err.detail).toMatch(/models\/dit\.ditto:\d+:\d+: error: shape mismatch in `patch_embed`.*not divisible by patch 2/);
    }
  });
});

describe('parseSetFlag', () => {
  it('parses name=value lists', () => {
    expect(parseSetFlag('latent=8,patch=2')).toEqual({ latent: 8, patch: 2 });
    expect(parseSetFlag('eps=1e-3 depth=2')).toEqual({ eps: 0.001, depth: 2 });
  });
  it('names the bad part', () => {
    expect(() => parseSetFlag('latent')).toThrow(/name=value pairs.*got 'latent'/);
    expect(() => parseSetFlag('latent=big')).toThrow(/--set latent: 'big' is not a number/);
    expect(() => parseSetFlag('a=1,a=2')).toThrow(/--set a is given twice/);
    // Names that collide with Object.prototype members are ordinary names here.
    expect(parseSetFlag('constructor=1').constructor).toBe(1);
  });
});
