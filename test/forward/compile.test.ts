/**
 * Forward mode without a GPU: what compileForward makes of the tiny DiT and of the VAE decoder (the
 * fusions docs/vae.md asks for), the plan's schema check in both directions, the runtime's input
 * check, and the VAE weight-name handling.
 */
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isDittoError } from '../../core/errors.ts';
import { intTensor, tensor } from '../../core/tensor.ts';
import { loadProgram, lowerModel } from '../../compiler/frontend.ts';
import { compileForward } from '../../compiler/forward.ts';
import { compile } from '../../compiler/pipeline.ts';
import { LAVAPIPE_CAPS } from '../../compiler/plan/caps.ts';
import { loadAnyPlan, loadForwardPlan, loadPlan } from '../../compiler/plan/load.ts';
import type { ForwardPlan } from '../../compiler/plan/types.ts';
import { checkForwardInputs } from '../../runtime/run/forwardRunner.ts';
import { prepareVae, vaeGraphFor } from '../../drivers/vaeDecoder.ts';
import { loadWeights } from '../../runtime/weights/index.ts';
import { goldenPath } from '../golden/goldenIo.ts';
import { vaeDecoderWeights, vaeTensorName } from '../../runtime/weights/vaeNames.ts';

const DIT = loadProgram(fileURLToPath(new URL('../../models/dit.ditto', import.meta.url)));
const VAE = loadProgram(fileURLToPath(new URL('../../models/vae.ditto', import.meta.url)));
const ditGraph = (batch = 2) => lowerModel(DIT, { model: 'DiT-Tiny', batch });
const vaeGraph = (set: Record<string, number> = {}, batch = 2) => lowerModel(VAE, { model: 'VAE-Tiny', set, batch });

function throwsCode(fn: () => unknown, code: string, pattern: RegExp): void {
  try {
    fn();
  } catch (e) {
    expect(isDittoError(e), String(e)).toBe(true);
    expect((e as { code: string }).code).toBe(code);
    expect((e as Error).message).toMatch(pattern);
    return;
  }
  throw new Error(`expected a ${code} error matching ${pattern}`);
}

const families = (p: ForwardPlan) => p.body.dispatches.map((d) => p.kernels[d.kernel]!.family);
const labels = (p: ForwardPlan) => p.body.dispatches.map((d) => (p.kernels[d.kernel]!.config as { label?: string }).label ?? '');

describe('compileForward: the tiny DiT', () => {
  const { plan } = compileForward(ditGraph(), { caps: LAVAPIPE_CAPS });

  it('has the model inputs and outputs as runtime buffers, one body, no sampler', () => {
    expect(plan.mode).toBe('forward');
    expect(plan.io.inputs.map((i) => [i.name, i.dtype, i.shape])).toEqual([['x', 'f32', [2, 4, 8, 8]], ['t', 'f32', [2]], ['y', 'i32', [2]]]);
    expect(plan.io.outputs.map((o) => [o.name, o.shape])).toEqual([['out', [2, 8, 8, 8]]]);
    for (const t of [...plan.io.inputs, ...plan.io.outputs]) expect(plan.buffers[t.buffer]!.kind).toBe(t.name === 'out' ? 'output' : 'input');
    expect(plan.buffers.some((b) => b.kind === 'latent' || b.kind === 'params' || b.kind === 'noise' || b.kind === 'cache')).toBe(false);
    // The last dispatch (unpatchify) writes the output buffer directly.
    const last = plan.body.dispatches.at(-1)!;
    expect(last.bindings.at(-1)!.buffer).toBe(plan.io.outputs[0]!.buffer);
  });

  it('keeps the sampling fusions: the depth adaLN projections + final layer as one matmul, LN+modulate', () => {
    const f = families(plan);
    // 2 blocks: ln_mod ×2 + final ln_mod; matmuls: t-MLP 2, adaLN 1 (fused), per block qkv, proj, fc1, fc2; final linear.
    expect(f.filter((x) => x === 'layernorm_modulate')).toHaveLength(5);
    expect(f.filter((x) => x === 'matmul').length).toBe(2 + 1 + 2 * 4 + 1 + 1 /* patch embed */);
    expect(plan.buffers.filter((b) => b.kind === 'fused_weight')).toHaveLength(2);
  });

  it('survives JSON and the schema check; sampling and forward loaders refuse each other', () => {
    const again = loadForwardPlan(JSON.stringify(plan));
    expect(again.hash).toBe(plan.hash);
    expect(loadAnyPlan(JSON.stringify(plan)).mode).toBe('forward');
    throwsCode(() => loadPlan(JSON.stringify(plan)), 'E_PLAN', /mode is 'forward'.*not a sampling loop/);
    const sampling = compile(ditGraph(), undefined, { steps: 2, batch: 2 }).plan;
    throwsCode(() => loadForwardPlan(JSON.stringify(sampling)), 'E_PLAN', /sampling plan.*ditto run/);
    expect(loadAnyPlan(JSON.stringify(sampling)).mode).toBeUndefined();
    expect('mode' in sampling).toBe(false); // sampling plans are unchanged
  });

  it('names broken fields of a forward plan', () => {
    const broken = (edit: (p: any) => void) => {
      const p = JSON.parse(JSON.stringify(plan));
      edit(p);
      return JSON.stringify(p);
    };
    throwsCode(() => loadForwardPlan(broken((p) => (p.io.inputs[0].buffer = p.io.outputs[0].buffer))), 'E_PLAN', /io\.inputs\[0\]\.buffer must name a buffer of kind 'input'/);
    throwsCode(() => loadForwardPlan(broken((p) => (p.io.outputs[0].shape = [2, 8, 8, 9]))), 'E_PLAN', /io\.outputs\[0\]\.shape .* does not fit/);
    throwsCode(() => loadForwardPlan(broken((p) => (p.body.dispatches[3].kernel = 999))), 'E_PLAN', /body\.dispatches\[3\]\.kernel/);
    throwsCode(() => loadForwardPlan(broken((p) => (p.mode = 'train'))), 'E_PLAN', /mode must be 'sample' or 'forward'/);
    throwsCode(() => loadForwardPlan(broken((p) => delete p.body)), 'E_PLAN', /body must be an object/);
  });

  it('refuses an unknown --dump-after pass and dumps a known one', () => {
    throwsCode(() => compileForward(ditGraph(), { dumpAfter: 'hoist' }), 'E_USAGE', /no pass named 'hoist'.*lower-forward, fuse, tile-image, memory/);
    const { dump } = compileForward(ditGraph(), { dumpAfter: 'fuse' });
    expect(dump).toMatch(/IR after pass 'fuse'/);
    expect(dump).toMatch(/unpatchify .* -> out:out\[2x8x8x8\]/);
  });
});

describe('compileForward: the VAE decoder', () => {
  const { plan } = compileForward(vaeGraph(), { caps: LAVAPIPE_CAPS });
  const convs = plan.body.dispatches.filter((d) => plan.kernels[d.kernel]!.family === 'conv2d').map((d) => plan.kernels[d.kernel]!.config as { upsample: number; residual: string; kernel: number });
  const norms = plan.body.dispatches.filter((d) => plan.kernels[d.kernel]!.family === 'group_norm').map((d) => plan.kernels[d.kernel]!.config as { silu: boolean; out: string });

  it('folds every upsample into its conv and every resnet add into a conv epilogue', () => {
    expect(families(plan)).not.toContain('upsample_nearest');
    expect(convs.filter((c) => c.upsample === 2)).toHaveLength(3);
    // 36 convs: post_quant, conv_in, 2×2 mid, 3·2·4 up-block resnets, 2 shortcuts, 3 upsamplers, conv_out.
    expect(convs).toHaveLength(36);
    // Each of the 14 ResNets ends in conv2 + residual (input or shortcut).
    expect(convs.filter((c) => c.residual === 'buffer')).toHaveLength(14);
  });

  it('fuses GroupNorm with SiLU everywhere but the attention norm, which writes tokens', () => {
    expect(norms).toHaveLength(30);
    expect(norms.filter((n) => n.silu && n.out === 'nchw')).toHaveLength(29);
    expect(norms.filter((n) => !n.silu && n.out === 'tokens')).toHaveLength(1);
  });

  it('writes q, k, v straight into the attention input: no concat or transpose copies are left', () => {
    expect(labels(plan).filter((l) => /concat|to_tokens|copy/.test(l))).toEqual([]);
    // to_image is inlined into the residual add.
    expect(labels(plan).filter((l) => l.includes('to_image'))).toEqual(['to_image+add']);
    const attn = plan.body.dispatches.findIndex((d) => plan.kernels[d.kernel]!.family === 'attention');
    const qkv = plan.body.dispatches.slice(attn - 3, attn);
    expect(qkv.map((d) => plan.kernels[d.kernel]!.family)).toEqual(['matmul', 'matmul', 'matmul']);
    const cfgs = qkv.map((d) => plan.kernels[d.kernel]!.config as { cOffset: number; cRowStride: number });
    expect(cfgs.map((c) => c.cOffset)).toEqual([0, 16, 32]);
    expect(cfgs.map((c) => c.cRowStride)).toEqual([48, 48, 48]);
    // All three write the buffer the attention reads.
    const target = new Set(qkv.map((d) => d.bindings.at(-1)!.buffer));
    expect(target.size).toBe(1);
    expect(plan.body.dispatches[attn]!.bindings[0]!.buffer).toBe([...target][0]);
  });

  it('refuses --f16 (the image families read f32 weights)', () => {
    throwsCode(() => compileForward(vaeGraph(), { f16: true }), 'E_USAGE', /--f16 is not available for model VAEDecoder/);
  });

  it('property: any small decoder config compiles, keeps its fusions and passes the schema check', () => {
    fc.assert(
      fc.property(
        fc.record({ ch: fc.constantFrom(2, 4, 8), latent: fc.integer({ min: 1, max: 6 }), batch: fc.integer({ min: 1, max: 3 }), groups: fc.constantFrom(1, 2) }),
        ({ ch, latent, batch, groups }) => {
          const g = lowerModel(VAE, { model: 'VAEDecoder', set: { ch, latent, groups }, batch });
          const { plan: p } = compileForward(g, { caps: LAVAPIPE_CAPS });
          expect(loadForwardPlan(JSON.stringify(p)).hash).toBe(p.hash);
          expect(p.io.outputs[0]!.shape).toEqual([batch, 3, 8 * latent, 8 * latent]);
          expect(families(p)).not.toContain('upsample_nearest');
          expect(labels(p).filter((l) => /concat|to_tokens/.test(l))).toEqual([]);
          // No two bindings of a dispatch alias one activation buffer when one of them is written.
          for (const d of p.body.dispatches) {
            const k = p.kernels[d.kernel]!;
            const written = d.bindings.filter((b) => k.bindings[b.binding]!.access === 'read_write').map((b) => b.buffer);
            const read = d.bindings.filter((b) => k.bindings[b.binding]!.access === 'read').map((b) => b.buffer);
            for (const w of written) expect(read).not.toContain(w);
          }
        },
      ),
      { numRuns: 12 },
    );
  });
});

describe('forward inputs and the VAE front door', () => {
  const { plan } = compileForward(ditGraph(), { caps: LAVAPIPE_CAPS });
  const good = { x: tensor([2, 4, 8, 8]), t: tensor([2]), y: intTensor([2], [1, 2]) };

  it('accepts the declared inputs and names every mismatch', () => {
    expect(() => checkForwardInputs(plan, good)).not.toThrow();
    throwsCode(() => checkForwardInputs(plan, { ...good, x: tensor([2, 4, 8, 4]) }), 'E_INPUT', /input 'x' is \[2, 4, 8, 4\], the plan expects \[2, 4, 8, 8\]/);
    throwsCode(() => checkForwardInputs(plan, { x: good.x, t: good.t }), 'E_INPUT', /missing input 'y' i32\[2\]/);
    throwsCode(() => checkForwardInputs(plan, { ...good, z: tensor([1]) }), 'E_INPUT', /unexpected input 'z'.*\n|unexpected input 'z'/);
    throwsCode(() => checkForwardInputs(plan, { ...good, y: tensor([2]) }), 'E_INPUT', /input 'y' is f32, the plan expects i32/);
  });

  it('sets the decoder side from the latents and refuses a channel mismatch', () => {
    expect(vaeGraphFor([3, 4, 5, 5], 'VAE-Tiny').outputs.map((o) => o.name)).toEqual(['image']);
    const g = vaeGraphFor([3, 4, 5, 5], 'VAE-Tiny');
    expect(g.nodes[g.outputs[0]!.node]!.shape).toEqual([3, 3, 40, 40]);
    throwsCode(() => vaeGraphFor([1, 2, 4, 4], 'VAE-Tiny'), 'E_USAGE', /VAE-Tiny decodes 4-channel latents, but the model's latents have 2 channels/);
    throwsCode(() => vaeGraphFor([1, 4, 4, 6], 'VAE-Tiny'), 'E_USAGE', /square latents/);
    throwsCode(() => vaeGraphFor([1, 4, 4, 4], 'VAE-Huge'), 'E_USAGE', /VAE-Huge/);
  });

  it('compiles the decoder for one image before sampling, and says so when one image exceeds the binding limit', () => {
    const ws = loadWeights(goldenPath('vae_tiny.safetensors'));
    const vae = prepareVae([3, 4, 4, 4], ws, LAVAPIPE_CAPS, 'VAE-Tiny');
    expect(vae.plan.model.batch).toBe(1);
    expect(vae.plan.io.outputs[0]!.shape).toEqual([1, 3, 32, 32]);
    // Tiling splits over channels: 8 KiB bindings still decode 32×32 images; 4 KiB cannot hold one
    // GroupNorm group (2 channels × 32²) and is refused.
    expect(prepareVae([3, 4, 4, 4], ws, { ...LAVAPIPE_CAPS, maxStorageBufferBindingSize: 8192 }, 'VAE-Tiny').plan.body.dispatches.length).toBeGreaterThan(73);
    const small = { ...LAVAPIPE_CAPS, maxStorageBufferBindingSize: 4096 };
    throwsCode(() => prepareVae([3, 4, 4, 4], ws, small, 'VAE-Tiny'), 'E_GPU', /decoding one 32×32 image needs a larger buffer .*even split over channels .*group_norm of 8 channels × 1024 pixels/);
    // Weights are checked before anything is compiled.
    throwsCode(() => prepareVae([1, 4, 4, 4], ws, LAVAPIPE_CAPS, 'sd-vae-ft-ema'), 'E_WEIGHTS', /decoder\.conv_in\.weight/);
  });

  it('renames old diffusers attention names, squeezes 1×1-conv projections and drops the encoder', () => {
    expect(vaeTensorName('decoder.mid_block.attentions.0.query.weight')).toBe('decoder.mid_block.attentions.0.to_q.weight');
    expect(vaeTensorName('decoder.mid_block.attentions.0.proj_attn.bias')).toBe('decoder.mid_block.attentions.0.to_out.0.bias');
    expect(vaeTensorName('decoder.mid_block.attentions.0.to_k.weight')).toBe('decoder.mid_block.attentions.0.to_k.weight');
    expect(vaeTensorName('decoder.up_blocks.0.resnets.0.conv1.weight')).toBe('decoder.up_blocks.0.resnets.0.conv1.weight');
    expect(vaeTensorName('encoder.conv_in.weight')).toBeNull();
    expect(vaeTensorName('quant_conv.weight')).toBeNull();
    const ws = vaeDecoderWeights({
      path: 'v.safetensors', format: 'safetensors',
      tensors: new Map([['decoder.mid_block.attentions.0.value.weight', tensor([4, 4, 1, 1])], ['encoder.x', tensor([1])], ['post_quant_conv.bias', tensor([4])]]),
    });
    expect([...ws.tensors.keys()]).toEqual(['decoder.mid_block.attentions.0.to_v.weight', 'post_quant_conv.bias']);
    expect(ws.tensors.get('decoder.mid_block.attentions.0.to_v.weight')!.shape).toEqual([4, 4]);
    throwsCode(() => vaeDecoderWeights({
      path: 'v.safetensors', format: 'safetensors',
      tensors: new Map([['decoder.mid_block.attentions.0.key.bias', tensor([4])], ['decoder.mid_block.attentions.0.to_k.bias', tensor([4])]]),
    }), 'E_WEIGHTS', /to_k\.bias appears twice/);
  });
});
