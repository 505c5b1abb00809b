/**
 * A DiT built directly with the GraphBuilder, node for node what `models/dit.ditto` lowers to.
 * Tests of the reference executor, the compiler and the kernels use it so they do not depend on
 * the language front end; a front-end test checks that the lowered model equals this graph.
 */
import { GraphBuilder } from '../../compiler/ir/builder.ts';
import type { Graph } from '../../compiler/ir/graph.ts';

export interface DiTConfig {
  depth: number;
  hidden: number;
  heads: number;
  patch: number;
  latent: number;
  channels: number;
  classes: number;
  mlp_ratio: number;
  learn_sigma: number;
  freq: number;
}

export const TINY_DIT: DiTConfig = {
  depth: 2, hidden: 64, heads: 4, patch: 2, latent: 8, channels: 4, classes: 10, mlp_ratio: 4, learn_sigma: 1, freq: 256,
};

export const DIT_XL_2: DiTConfig = {
  depth: 28, hidden: 1152, heads: 16, patch: 2, latent: 32, channels: 4, classes: 1000, mlp_ratio: 4, learn_sigma: 1, freq: 256,
};

/** Names models/dit.ditto binds the six adaLN chunks of a block to (paths `blocks[i].<name>`). */
const ADA_NAMES = ['shift_msa', 'scale_msa', 'gate_msa', 'shift_mlp', 'scale_mlp', 'gate_mlp'];

export function buildDiTGraph(cfg: DiTConfig, batch: number): Graph {
  const D = cfg.hidden;
  const grid = cfg.latent / cfg.patch;
  const outCh = cfg.channels * (cfg.learn_sigma ? 2 : 1);
  const g = new GraphBuilder('DiT', { ...cfg }, batch);
  const x = g.input('x', 'f32', [batch, cfg.channels, cfg.latent, cfg.latent]);
  const t = g.input('t', 'f32', [batch]);
  const y = g.input('y', 'i32', [batch]);
  const lin = (inp: number, i: number, o: number, weights: string, path?: string) =>
    g.op({ kind: 'linear', inFeatures: i, outFeatures: o, bias: true }, [inp], { weights, path });
  const silu = (a: number) => g.op({ kind: 'unary', fn: 'silu' }, [a]);
  const add = (a: number, b: number, path?: string) =>
    g.op({ kind: 'binary', fn: 'add', broadcast: 'numpy' }, [a, b], { path });
  const gateAdd = (h: number, gate: number, v: number, path: string) => {
    const gv = g.op({ kind: 'binary', fn: 'mul', broadcast: 'per_sample' }, [gate, v]);
    return add(h, gv, path);
  };

  const xe = g.op({ kind: 'patch_embed', patch: cfg.patch, dim: D }, [x], { weights: 'x_embedder.proj' });
  const pos = g.op({ kind: 'pos_embed_2d', grid, dim: D }, [], { weights: 'pos_embed' });
  let h = add(xe, pos, 'h');
  const tf = g.op({ kind: 'timestep_embed', dim: cfg.freq, maxPeriod: 10000 }, [t]);
  const t1 = silu(lin(tf, cfg.freq, D, 't_embedder.mlp.0'));
  const temb = lin(t1, D, D, 't_embedder.mlp.2', 't_emb');
  const yemb = g.op({ kind: 'embedding', rows: cfg.classes + 1, dim: D }, [y], { weights: 'y_embedder.embedding_table', path: 'y_emb' });
  const c = add(temb, yemb, 'c');
  const sc = g.op({ kind: 'unary', fn: 'silu' }, [c], { path: 'c_silu' });

  for (let i = 0; i < cfg.depth; i++) {
    const p = `blocks[${i}]`;
    const first = g.size;
    const input = h;
    const ada = lin(sc, D, 6 * D, `blocks.${i}.adaLN_modulation.1`, `${p}.ada`);
    const m = ADA_NAMES.map((name, k) => g.op({ kind: 'chunk', parts: 6, index: k }, [ada], { path: `${p}.${name}` }));
    const ln1 = g.op({ kind: 'layernorm', eps: 1e-6 }, [h]);
    const mod1 = g.op({ kind: 'modulate' }, [ln1, m[0]!, m[1]!], { path: `${p}.msa_in` });
    const qkv = lin(mod1, D, 3 * D, `blocks.${i}.attn.qkv`, `${p}.qkv`);
    const core = g.op({ kind: 'attention', heads: cfg.heads }, [qkv]);
    const attn = lin(core, D, D, `blocks.${i}.attn.proj`, `${p}.attn`);
    h = gateAdd(h, m[2]!, attn, `${p}.h#1`);
    const ln2 = g.op({ kind: 'layernorm', eps: 1e-6 }, [h]);
    const mod2 = g.op({ kind: 'modulate' }, [ln2, m[3]!, m[4]!]);
    const fc1 = g.op({ kind: 'unary', fn: 'gelu_tanh' }, [lin(mod2, D, cfg.mlp_ratio * D, `blocks.${i}.mlp.fc1`)]);
    const mlp = lin(fc1, cfg.mlp_ratio * D, D, `blocks.${i}.mlp.fc2`, `${p}.mlp`);
    h = gateAdd(h, m[5]!, mlp, `${p}.h`);
    g.block({
      path: p, group: 'blocks', index: i, input, output: h,
      nodes: Array.from({ length: g.size - first }, (_, k) => first + k),
    });
  }

  const fada = lin(sc, D, 2 * D, 'final_layer.adaLN_modulation.1');
  const shift = g.op({ kind: 'chunk', parts: 2, index: 0 }, [fada], { path: 'final_shift' });
  const scale = g.op({ kind: 'chunk', parts: 2, index: 1 }, [fada], { path: 'final_scale' });
  const lnf = g.op({ kind: 'layernorm', eps: 1e-6 }, [h]);
  const modf = g.op({ kind: 'modulate' }, [lnf, shift, scale]);
  const fin = lin(modf, D, cfg.patch * cfg.patch * outCh, 'final_layer.linear');
  const out = g.op({ kind: 'unpatchify', patch: cfg.patch, channels: outCh, grid }, [fin], { path: 'out' });
  g.output('out', out);
  return g.build();
}
