/**
 * The reference executor against PyTorch (tools/golden/make_dit_goldens.py, tiny DiT: depth 2,
 * hidden 64, 4 heads, patch 2, latent 8, 10 classes, learn_sigma). Weights are read from both the
 * safetensors file and the torch `.pt` through runtime/weights.
 */
import { describe, expect, it } from 'vitest';
import { buildDiTGraph, TINY_DIT } from '../helpers/ditGraph.ts';
import { loadWeights } from '../../runtime/weights/index.ts';
import { forward, forwardAll } from '../../runtime/reference/forward.ts';
import { sampleReference } from '../../runtime/reference/sample.ts';
import { computeEverything, type BranchActions, type ScheduleIR } from '../../compiler/ir/schedule.ts';
import { nodeByPath } from '../../compiler/ir/graph.ts';
import { intTensor, tensor, type Tensor } from '../../core/tensor.ts';
import { goldenPath, readGoldenIo } from '../golden/goldenIo.ts';

const io = readGoldenIo();
const st = loadWeights(goldenPath('dit_tiny.safetensors')).tensors;
const pt = loadWeights(goldenPath('dit_tiny.pt')).tensors;

/** rel 1e-5 with an absolute floor at 1e-5 of the tensor's scale (values that cancel to ~0). */
function close(actual: Tensor, expected: Tensor, rtol = 1e-5, floor = rtol) {
  expect(actual.shape).toEqual(expected.shape);
  let scale = 0;
  for (const v of expected.data) scale = Math.max(scale, Math.abs(v));
  expect(actual.data).toAllClose(expected.data, { rtol, atol: floor * scale });
}

const ids = (t: Tensor) => intTensor(t.shape, Array.from(t.data, (v) => Math.round(v)));

describe('weights from torch', () => {
  it('the .pt and the safetensors file hold the same tensors', () => {
    expect([...pt.keys()].sort()).toEqual([...st.keys()].sort());
    for (const [name, t] of st) {
      expect(pt.get(name)!.shape, name).toEqual(t.shape);
      expect(pt.get(name)!.data, name).toEqual(t.data);
    }
  });
});

describe('forward vs torch (rel 1e-5)', () => {
  const g = buildDiTGraph(TINY_DIT, 2);
  const inputs = { x: io.f32('fwd.x'), t: io.f32('fwd.t'), y: ids(io.f32('fwd.y')) };

  it('full forward, from either weight file, and with pos_embed computed instead of loaded', () => {
    const expected = io.f32('fwd.out');
    close(forward(g, st, inputs).out!, expected);
    close(forward(g, pt, inputs).out!, expected);
    const noPos = new Map(st);
    noPos.delete('pos_embed');
    close(forward(g, noPos, inputs).out!, expected);
  });

  it('embeddings and one block (ungated attention and MLP outputs, block output)', () => {
    const all = forwardAll(g, st, inputs);
    const at = (path: string) => all[nodeByPath(g, path)!.id]!;
    close(at('h'), io.f32('fwd.h'));
    close(at('t_emb'), io.f32('fwd.t_emb'));
    close(at('c'), io.f32('fwd.c'));
    close(at('blocks[0].attn'), io.f32('block0.attn'));
    close(at('blocks[0].mlp'), io.f32('block0.mlp'));
    close(at('blocks[0].h'), io.f32('block0.out'));
  });
});

describe('10-step DDPM CFG runs vs torch (rel 1e-4)', () => {
  const g = buildDiTGraph(TINY_DIT, 4);
  const steps = Number(io.meta['run.steps']);
  const latentShape = io.f32('run.x0').shape;
  const perStep = (name: string) => {
    const all = io.f32(name).data as Float32Array;
    const n = all.length / steps;
    return Array.from({ length: steps }, (_, k) => tensor(latentShape, all.slice(k * n, (k + 1) * n)));
  };
  const noise = { initial: io.f32('run.x0'), steps: perStep('run.noise') };
  const classes = Array.from(io.f32('run.classes').data);
  const epsScale = Number(io.meta['run.eps_scale']);
  const base = computeEverything('DiT', steps);

  /** Runs, checking the guided eps of every step (O(1), so the sensitive check: the latents of a
   *  random-weight model grow to ~1e3) and the final latents elementwise. */
  function check(schedule: ScheduleIR, golden: 'run' | 'run_cached') {
    const eps: Tensor[] = [];
    const r = sampleReference(g, st, schedule, {
      sampler: 'ddpm', cfgScale: Number(io.meta['run.cfg_scale']), classes, seed: 0, noise,
      observe: (s) => eps.push(tensor(latentShape, s.eps)),
    });
    const want = perStep(`${golden}.eps`);
    eps.forEach((e, k) => {
      expect(e.data, `eps at step ${k}`).toAllClose(want[k]!.data, { rtol: 1e-4, atol: 1e-5 });
    });
    // The latents reach ~1e3, where one f32 ulp is ~1e-4: an absolute floor at 1e-5 of their scale.
    close(r.latents, io.f32(`${golden}.out`), 1e-4, 1e-5);
    return { r, eps };
  }

  it('no caching', () => {
    check({ ...base, epsScale: base.epsScale.map(() => epsScale) }, 'run');
  });

  it('cached: reuse, per-branch reuse, residual reuse (the schedule of cached_acts in the script)', () => {
    const both = (a: BranchActions['cond']): BranchActions => ({ cond: a, uncond: a });
    const table = Array.from({ length: steps }, (_, k) => {
      const e: Record<string, BranchActions> = {};
      if ([3, 5, 7].includes(k)) {
        for (let i = 0; i < TINY_DIT.depth; i++) {
          e[`blocks[${i}].attn`] = both({ kind: 'reuse' });
          e[`blocks[${i}].mlp`] = { cond: { kind: 'compute' }, uncond: { kind: 'reuse' } };
        }
      }
      if (k === 4 || k === 8) e['blocks[1]'] = both({ kind: 'reuse_residual' });
      if (k === 6) e['blocks[0]'] = { cond: { kind: 'compute' }, uncond: { kind: 'reuse_residual' } };
      return e;
    });
    const schedule: ScheduleIR = { ...base, name: 'golden-cached', table, epsScale: base.epsScale.map(() => epsScale) };
    const { r, eps } = check(schedule, 'run_cached');
    // The cache really changed the eps from step 3 on (the schedule is not a no-op).
    const plain = perStep('run.eps');
    expect(eps[2]!.data).toAllClose(plain[2]!.data, { rtol: 1e-4, atol: 1e-5 });
    expect(eps[3]!.data).not.toAllClose(plain[3]!.data, { rtol: 1e-3, atol: 1e-3 });
    expect(r.stats.targets['blocks[0].attn']).toEqual({ cond: { compute: 7, reuse: 3, forecast: 0 }, uncond: { compute: 7, reuse: 3, forecast: 0 } });
    // Dead under the residual reuse of blocks[1] at steps 4 and 8: neither computed nor reused there.
    expect(r.stats.targets['blocks[1].attn']!.cond).toEqual({ compute: 5, reuse: 3, forecast: 0 });
    expect(r.stats.targets['blocks[1]']).toEqual({ cond: { compute: 8, reuse: 2, forecast: 0 }, uncond: { compute: 8, reuse: 2, forecast: 0 } });
  });
});
