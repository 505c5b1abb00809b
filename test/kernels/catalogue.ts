/**
 * A fixed set of kernel configs covering every family, variant and storage type, at tiny and
 * DiT-S/2 shapes. Shared by the WGSL snapshot test and the "compiles on Dawn" test.
 */
import {
  DEFAULT_CAPS, LAVAPIPE_CAPS, emitAttention, emitElementwise, emitLabelEmbed, emitLayerNormModulate, emitMatmul, emitTimestepEmbed,
  emitUnpatchify, ex, posAddProblem, selectAttention, selectElementwise, selectLabelEmbed, selectLayerNormModulate, selectMatmul,
  selectPatchEmbed, selectTimestepEmbed, selectUnpatchify, emitTokenRows, selectTokenRows, type AdapterCaps, type EmittedKernel,
} from '../../compiler/kernels/index.ts';

const HW_F16: AdapterCaps = { ...DEFAULT_CAPS, hasF16: true };

export function catalogue(): Record<string, EmittedKernel> {
  const D = 384, T = 256, B = 2;
  const sw = LAVAPIPE_CAPS, hw = HW_F16;
  const gate = { tokens: T, gateOffset: 2 * D, gateRowStride: 6 * D, inPlace: true };
  return {
    'matmul sw qkv+bias': emitMatmul(selectMatmul({ M: B * T, N: 3 * D, K: D, bias: true }, sw)),
    'matmul sw fc1 bias+gelu f16 weights': emitMatmul(selectMatmul({ M: B * T, N: 4 * D, K: D, bias: true, gelu: true, wDtype: 'f16' }, sw)),
    'matmul sw proj gated residual in place': emitMatmul(selectMatmul({ M: B * T, N: D, K: D, bias: true, gatedResidual: gate }, sw)),
    'matmul sw adaLN silu input ragged K': emitMatmul(selectMatmul({ M: B, N: 12 * 6 * D, K: 13, bias: true, siluInput: true }, sw)),
    'matmul hw 64 tile gated residual separate': emitMatmul(selectMatmul({ M: B * T, N: D, K: 4 * D, bias: true, gatedResidual: { ...gate, inPlace: false } }, hw)),
    'matmul hw 32 tile batched strided f16': emitMatmul(selectMatmul({
      M: 10, N: 7, K: 5, batch: 3, a: { kind: 'rows', offset: 2, rowStride: 9, batchStride: 90 }, wBatchStride: 35, cOffset: 1, cRowStride: 8, wDtype: 'f16',
    }, hw)),
    'matmul hw 128 tile 8x8 vec4 double-buffered': emitMatmul(selectMatmul({ M: 2048, N: 4 * D, K: D, bias: true, gelu: true }, hw)),
    'matmul hw f16 math': emitMatmul(selectMatmul({ M: B * T, N: 3 * D, K: D, bias: true, wDtype: 'f16', f16Math: true }, hw)),
    'patch_embed sw': emitMatmul(selectPatchEmbed({ B, channels: 4, size: 32, patch: 2, dim: D }, sw)),
    'layernorm_modulate sw': emitLayerNormModulate(selectLayerNormModulate({ rows: B * T, D, tokens: T, eps: 1e-6, modulation: { rowStride: 6 * D, shiftOffset: 0, scaleOffset: D } }, sw)),
    'layernorm_modulate hw plain f16': emitLayerNormModulate(selectLayerNormModulate({ rows: 5, D: 100, tokens: 5, eps: 1e-5, modulation: null, xDtype: 'f16' }, hw)),
    'attention sw DiT-S': emitAttention(selectAttention({ B, T, heads: 6, headDim: 64 }, sw)),
    'attention hw odd head dim f16': emitAttention(selectAttention({ B: 1, T: 9, heads: 2, headDim: 6, qkvDtype: 'f16' }, hw)),
    'attention sw DiT-XL head dim 72 ragged T': emitAttention(selectAttention({ B, T: 250, heads: 16, headDim: 72 }, sw)),
    'attention hw DiT-XL head dim 72': emitAttention(selectAttention({ B, T, heads: 16, headDim: 72 }, hw)),
    'attention fallback wide head': emitAttention(selectAttention({ B: 1, T: 20, heads: 1, headDim: 130 }, hw)),
    'elementwise cfg combine': emitElementwise(selectElementwise({
      label: 'cfg_combine', shape: [1, 4, 16],
      inputs: [{ name: 'eps', view: { offset: 0, strides: [0, 16, 1] } }, { name: 'eps_u', view: { offset: 64 * 2, strides: [0, 16, 1] } }],
      outputs: [{ name: 'guided', view: { offset: 0, strides: [0, 16, 1] }, expr: ex.add(ex.input(1), ex.mul(ex.u(0), ex.sub(ex.input(0), ex.input(1)))) }],
      uniforms: 1,
    }, sw)),
    'elementwise reuse and gate f16 cache': emitElementwise(selectElementwise({
      label: 'reuse_gate', shape: [B, T, D],
      inputs: [{ name: 'cache', view: { offset: 0, strides: [T * D, D, 1] }, dtype: 'f16' }, { name: 'ada', view: { offset: 5 * D, strides: [6 * D, 0, 1] } }],
      outputs: [{ name: 'h', view: { offset: 0, strides: [T * D, D, 1] }, expr: ex.add(ex.output(0), ex.mul(ex.input(1), ex.input(0))) }],
    }, hw)),
    'elementwise pos add': emitElementwise(selectElementwise(posAddProblem(B, T, D), hw)),
    'timestep_embed': emitTimestepEmbed(selectTimestepEmbed({ B, dim: 256 }, sw)),
    'label_embed f16 table': emitLabelEmbed(selectLabelEmbed({ B, rows: 1001, dim: D, tableDtype: 'f16' }, hw)),
    'unpatchify': emitUnpatchify(selectUnpatchify({ B, grid: 16, patch: 2, channels: 8 }, sw)),
    'attention sw gathered queries': emitAttention(selectAttention({ B, T, heads: 6, headDim: 64, queries: [0, 3, 64, 255] }, sw)),
    'attention hw gathered queries ragged': emitAttention(selectAttention({ B: 1, T: 9, heads: 2, headDim: 6, queries: [1, 8] }, hw)),
    'attention fallback wide head gathered queries': emitAttention(selectAttention({ B: 1, T: 20, heads: 1, headDim: 130, queries: [2, 3, 19] }, hw)),
    'token_rows gather one CFG half f16': emitTokenRows(selectTokenRows({
      mode: 'gather', samples: 1, tokens: T, dim: D, indices: [0, 2, 17, 255], full: { offset: 3, sampleStride: 0, rowStride: D }, packed: { offset: 0, sampleStride: 4 * D, rowStride: D }, srcDtype: 'f16',
    }, hw)),
    'token_rows scatter into a cache slot': emitTokenRows(selectTokenRows({
      mode: 'scatter', samples: B, tokens: T, dim: D, indices: [1, 5, 9], full: { offset: 0, sampleStride: T * D, rowStride: D }, packed: { offset: 0, sampleStride: 3 * D, rowStride: D },
    }, sw)),
  };
}
