/**
 * The kernels a DiT forward spends its time in, at the shapes of DiT-S, B and XL (batch 2 = one CFG
 * pair, 256 tokens = 32×32 latent with patch 2), with the work each one does: FLOPs (2 per
 * multiply-add) and compulsory bytes (every binding's elements once). Pure: no GPU.
 */
import {
  emitAttention, emitLayerNormModulate, emitMatmul, selectAttention, selectLayerNormModulate, selectMatmul,
  type AdapterCaps, type EmittedKernel,
} from '../compiler/kernels/index.ts';

export interface DitSize {
  name: string;
  hidden: number;
  heads: number;
}

export const DIT_SIZES: readonly DitSize[] = [
  { name: 'S', hidden: 384, heads: 6 },
  { name: 'B', hidden: 768, heads: 12 },
  { name: 'XL', hidden: 1152, heads: 16 },
];

export const BATCH = 2;
export const TOKENS = 256;

export const KERNEL_KINDS = ['matmul', 'attention', 'layernorm_modulate'] as const;

export interface KernelCase {
  size: string;
  /** e.g. `fc1 512×1536×384 +bias+gelu`. */
  name: string;
  kind: (typeof KERNEL_KINDS)[number];
  kernel: EmittedKernel;
  /** Floating-point operations per dispatch (null for memory-bound kernels). */
  flops: number | null;
  bytes: number;
  /** Matmul problems, for the onnxruntime comparison. */
  mnk?: [number, number, number];
}

/** Σ over bindings of elements × element size: the traffic a kernel cannot avoid. */
export function compulsoryBytes(k: EmittedKernel): number {
  return k.bindings.reduce((s, b) => s + b.elements * (b.elemType === 'f16' ? 2 : 4), 0);
}

export function kernelCases(size: DitSize, caps: AdapterCaps): KernelCase[] {
  const D = size.hidden;
  const M = BATCH * TOKENS;
  const cases: KernelCase[] = [];
  const mm = (label: string, N: number, K: number, extra: { bias?: boolean; gelu?: boolean; gated?: boolean }, tag: string) => {
    const kernel = emitMatmul(selectMatmul({
      M, N, K, bias: extra.bias, gelu: extra.gelu,
      gatedResidual: extra.gated ? { tokens: TOKENS, gateOffset: 2 * D, gateRowStride: 6 * D, inPlace: true } : undefined,
    }, caps));
    cases.push({ size: size.name, name: `${label} ${M}×${N}×${K}${tag}`, kind: 'matmul', kernel, flops: 2 * M * N * K, bytes: compulsoryBytes(kernel), mnk: [M, N, K] });
  };
  mm('qkv', 3 * D, D, { bias: true }, ' +bias');
  mm('fc1', 4 * D, D, { bias: true, gelu: true }, ' +bias+gelu');
  mm('fc2', D, 4 * D, { bias: true, gated: true }, ' +bias+gate+residual');

  const hd = D / size.heads;
  const att = emitAttention(selectAttention({ B: BATCH, T: TOKENS, heads: size.heads, headDim: hd }, caps));
  cases.push({
    size: size.name, name: `attention B${BATCH} T${TOKENS} ${size.heads}×${hd}`, kind: 'attention', kernel: att,
    flops: 4 * BATCH * size.heads * TOKENS * TOKENS * hd, bytes: compulsoryBytes(att),
  });

  const ln = emitLayerNormModulate(selectLayerNormModulate({
    rows: M, D, tokens: TOKENS, eps: 1e-6, modulation: { rowStride: 6 * D, shiftOffset: 0, scaleOffset: D },
  }, caps));
  cases.push({ size: size.name, name: `LN+modulate ${M}×${D}`, kind: 'layernorm_modulate', kernel: ln, flops: null, bytes: compulsoryBytes(ln) });
  return cases;
}
