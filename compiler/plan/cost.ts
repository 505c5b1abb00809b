/**
 * The plan's cost model. FLOPs count a multiply-add as 2 (so a DiT-XL/2 forward is ~237 GFLOPs, the
 * "119 Gflops" of the DiT paper in MACs); bytes are what each dispatch reads and writes (stride-0
 * broadcasts count once). Time is a roofline per dispatch — max(FLOPs / peak, bytes / bandwidth)
 * plus a fixed dispatch overhead — on the compile caps profile: a prediction for comparing plans,
 * not a measurement.
 */
import type { Expr, Instr, ValueInfo } from '../passes/ir.ts';
import { viewElements } from '../passes/views.ts';
import type { CompileCaps } from './caps.ts';
import type { StepCost } from './types.ts';

function exprOps(e: Expr): number {
  if (e.op === 'input' || e.op === 'output' || e.op === 'const' || e.op === 'uniform') return 0;
  const inner = exprOps(e.a) + ('b' in e ? exprOps(e.b) : 0);
  // Transcendentals cost more than one flop; count a handful.
  return inner + (e.op === 'silu' || e.op === 'gelu_tanh' || e.op === 'exp' || e.op === 'log' || e.op === 'sqrt' || e.op === 'pow' ? 8 : 1);
}

export function instrFlops(i: Instr): number {
  const op = i.op;
  switch (op.kind) {
    case 'matmul':
      return 2 * op.m * op.n * op.k + op.m * op.n * ((op.bias ? 1 : 0) + (op.gelu ? 8 : 0) + (op.gate ? 2 : 0)) + (op.siluInput ? 8 * op.m * op.k : 0);
    case 'patch_embed': {
      const tokens = (op.height / op.patch) * (op.width / op.patch);
      return 2 * op.batch * tokens * op.dim * op.channels * op.patch * op.patch + op.batch * tokens * op.dim;
    }
    case 'attention': {
      const D = op.heads * op.headDim;
      // q·kᵀ and p·v (2·Tq·T·D MACs), plus ~5 flops per score for the online softmax; Tq = T
      // unless a partial compute gathered its queries.
      const Tq = op.queries?.length ?? op.tokens;
      return 4 * op.batch * Tq * op.tokens * D + 5 * op.batch * op.heads * Tq * op.tokens;
    }
    case 'layernorm':
      return 6 * op.rows * op.dim;
    case 'ln_modulate':
      return 8 * op.rows * op.dim;
    case 'timestep_embed':
      return 20 * op.batch * op.dim;
    case 'embedding':
    case 'unpatchify':
    case 'dynamic_reset':
      return 0;
    case 'dynamic_decide':
      // |cur − prev|, |prev| and the two sums per element.
      return 4 * op.elements;
    case 'dynamic_rate':
      // two differences, three absolute values and three sums per element.
      return 8 * op.elements;
    case 'conv2d': {
      const oh = op.H * op.upsample + 2 * op.padding - op.kernel + 1;
      const ow = op.W * op.upsample + 2 * op.padding - op.kernel + 1;
      const out = op.B * op.Cout * oh * ow;
      return 2 * out * op.Cin * op.kernel * op.kernel + out * ((op.bias ? 1 : 0) + (op.residual !== 'none' ? 1 : 0));
    }
    case 'group_norm':
      // two statistics passes and the affine, plus the SiLU.
      return op.B * op.C * op.S * (6 + (op.silu ? 8 : 0));
    case 'upsample_nearest':
    case 'token_rows':
      return 0;
    case 'lowpass':
      // a multiply-add per element of its plane, per output element
      return 2 * op.planes * op.H * op.W * op.H * op.W;
    case 'elementwise': {
      const n = op.shape.reduce((a, b) => a * b, 1);
      return n * op.exprs.reduce((s, e) => s + exprOps(e), 0);
    }
  }
}

export function instrBytes(i: Instr, values: Map<string, ValueInfo>): number {
  let bytes = 0;
  for (const o of [...i.ins, ...i.outs]) bytes += viewElements(o.view) * (values.get(o.value)!.dtype === 'f16' ? 2 : 4);
  // Patch gather and unpatchify read whole tensors; views above already count them.
  return bytes;
}

export function dispatchSeconds(flops: number, bytes: number, caps: CompileCaps): number {
  return Math.max(flops / caps.peakFlops, bytes / caps.bandwidthBytesPerSec) + caps.dispatchOverheadSec;
}

export function bodyCost(instrs: readonly Instr[], values: Map<string, ValueInfo>, caps: CompileCaps): StepCost {
  let flops = 0;
  let bytes = 0;
  let seconds = 0;
  for (const i of instrs) {
    const f = instrFlops(i);
    const b = instrBytes(i, values);
    flops += f;
    bytes += b;
    seconds += dispatchSeconds(f, b, caps);
  }
  return { flops, bytes, dispatches: instrs.length, seconds };
}
