/**
 * From an IR instruction to a kernel of compiler/kernels plus its bindings. Every operand is bound
 * at the largest aligned byte offset at or below its view's start, and the rest of the offset goes
 * into the kernel config where the family takes offsets (matmul rows, elementwise views, the
 * modulation chunks of layernorm; the model's inputs and output — timestep, label and patch
 * embeddings, unpatchify — whose unconditional CFG half may start off the alignment, e.g. t at
 * element B): so the 28 blocks' kernels, which differ only in which adaLN chunk they read, come out
 * as one pipeline. Families without offsets need the view to start on an aligned byte (CFG halves
 * of activations inside the blocks do for the DiT family).
 */
import { DittoError, invariant } from '../../core/errors.ts';
import {
  emitAttention, emitConv2d, emitElementwise, emitGroupNorm, emitUpsampleNearest, selectConv2d, selectGroupNorm, selectUpsampleNearest, emitLabelEmbed, emitLayerNormModulate, emitMatmul, emitTimestepEmbed, emitUnpatchify,
  selectAttention, selectElementwise, selectLabelEmbed, selectLayerNormModulate, selectMatmul, selectPatchEmbed,
  selectTimestepEmbed, selectUnpatchify, type EmittedKernel,
} from '../kernels/index.ts';
import { emitTokenRows, selectTokenRows } from '../kernels/tokenRows.ts';
import { emitLowpass, selectLowpass } from '../kernels/lowpass.ts';
import { emitDynamicDecide, emitDynamicRate, emitDynamicReset, selectDynamicDecide, type DynamicRateConfig, type GuardedDispatch } from '../kernels/dynamic.ts';
import type { Instr, Operand, ValueInfo, View } from '../passes/ir.ts';
import type { CompileCaps } from './caps.ts';
import { numel } from '../../core/tensor.ts';

export interface BoundOperand {
  value: string;
  /** Element offset left for the kernel config. */
  rest: number;
  /** Byte offset of the binding. */
  byteOffset: number;
}

export interface SelectedKernel {
  family: string;
  config: unknown;
  kernel: EmittedKernel;
  /** Kernel binding name → value bound and its byte offset ('u' → params). */
  binds: Map<string, BoundOperand>;
}

function elemBytes(v: ValueInfo): number {
  return v.dtype === 'f16' ? 2 : 4;
}

function bind(o: Operand, values: Map<string, ValueInfo>, caps: CompileCaps, from = o.view.offset): BoundOperand {
  const bytes = elemBytes(values.get(o.value)!);
  const perAlign = caps.minStorageBufferOffsetAlignment / bytes;
  const base = Math.floor(from / perAlign) * perAlign;
  return { value: o.value, rest: o.view.offset - base, byteOffset: base * bytes };
}

/** An operand of a family without offsets that starts off the storage alignment. A bug, unless the
 *  instruction runs one CFG half alone on a model whose halves do not split on the alignment: the
 *  plan builder names that case (compiler/plan/build.ts). */
export class UnalignedOperand extends DittoError {
  constructor(readonly family: string, readonly operand: string, readonly value: string, readonly elements: number) {
    super('E_INTERNAL', `${family}: operand '${operand}' (${value}) starts at a byte offset that is not a multiple of the storage alignment; this family takes no offset`);
  }
}

function exact(name: string, b: BoundOperand, family: string): BoundOperand {
  if (b.rest !== 0) throw new UnalignedOperand(family, name, b.value, b.byteOffset / 4 + b.rest);
  return b;
}

/** Rows layout of an N-D view: [rows, last] with one row stride. */
function rowStride(v: View): number {
  const r = v.shape.length;
  const rows = v.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  return r >= 2 && rows > 1 ? v.strides[r - 2]! : v.shape[r - 1]!;
}

/** `guarded`: for a dynamic_decide instruction, the guarded dispatches of its body it decides. */
export function selectKernel(ins: Instr, values: Map<string, ValueInfo>, caps: CompileCaps, guarded: GuardedDispatch[] = []): SelectedKernel {
  const op = ins.op;
  const binds = new Map<string, BoundOperand>();
  const b = (o: Operand, from?: number) => bind(o, values, caps, from);
  const dt = (o: Operand) => (values.get(o.value)!.dtype === 'f16' ? 'f16' : 'f32') as 'f16' | 'f32';
  switch (op.kind) {
    case 'matmul': {
      const [a, w, ...rest] = ins.ins as [Operand, Operand, ...Operand[]];
      const c = ins.outs[0]!;
      const ab = b(a);
      const cb = b(c);
      binds.set('a', ab).set('w', exact('w', b(w), 'matmul'));
      let k = 0;
      const bias = op.bias ? rest[k++]! : undefined;
      if (bias) binds.set('bias', exact('bias', b(bias), 'matmul'));
      let gatedResidual;
      if (op.gate) {
        const gate = rest[k++]!;
        const residual = rest[k++]!;
        const gb = b(gate);
        const rb = b(residual, residual.view.offset - cb.rest);
        invariant(rb.rest === cb.rest, 'residual laid out like C');
        binds.set('gate', gb).set('residual', rb);
        gatedResidual = { tokens: op.gate.tokens, gateOffset: gb.rest, gateRowStride: gate.view.strides[0]!, inPlace: false };
      }
      binds.set('c', cb);
      const aStride = rowStride(a.view);
      const config = selectMatmul({
        M: op.m, N: op.n, K: op.k,
        a: { kind: 'rows', offset: ab.rest, rowStride: aStride, batchStride: op.m * aStride },
        cOffset: cb.rest, cRowStride: rowStride(c.view), wDtype: dt(w),
        siluInput: op.siluInput, bias: op.bias, ...(bias ? { biasDtype: dt(bias) } : {}), gelu: op.gelu, ...(gatedResidual ? { gatedResidual } : {}),
      }, caps);
      return { family: 'matmul', config, kernel: emitMatmul(config), binds };
    }
    case 'patch_embed': {
      if (op.height !== op.width) throw new DittoError('E_CHECK', `patch_embed: only square latents are supported, got ${op.height}×${op.width}`);
      const [x, w, bias] = ins.ins as [Operand, Operand, Operand];
      const xb = b(x);
      const cb = b(ins.outs[0]!);
      binds.set('a', xb).set('w', exact('w', b(w), 'patch_embed')).set('bias', exact('bias', b(bias), 'patch_embed')).set('c', cb);
      const config = selectPatchEmbed({ B: op.batch, channels: op.channels, size: op.height, patch: op.patch, dim: op.dim, wDtype: dt(w), biasDtype: dt(bias), xOffset: xb.rest, cOffset: cb.rest }, caps);
      return { family: 'matmul', config, kernel: emitMatmul(config), binds };
    }
    case 'layernorm':
    case 'ln_modulate': {
      const x = ins.ins[0]!;
      binds.set('x', exact('x', b(x), 'layernorm_modulate'));
      let modulation = null;
      if (op.kind === 'ln_modulate') {
        const [shift, scale] = [ins.ins[1]!, ins.ins[2]!];
        const mb = b(shift, Math.min(shift.view.offset, scale.view.offset));
        binds.set('modulation', mb);
        modulation = { rowStride: shift.view.strides[0]!, shiftOffset: mb.rest, scaleOffset: scale.view.offset - (shift.view.offset - mb.rest) };
      }
      binds.set('y', exact('y', b(ins.outs[0]!), 'layernorm_modulate'));
      const config = selectLayerNormModulate({ rows: op.rows, D: op.dim, tokens: op.tokens, eps: op.eps, modulation, xDtype: dt(x) }, caps);
      return { family: 'layernorm_modulate', config, kernel: emitLayerNormModulate(config), binds };
    }
    case 'attention': {
      binds.set('qkv', exact('qkv', b(ins.ins[0]!), 'attention')).set('out', exact('out', b(ins.outs[0]!), 'attention'));
      const config = selectAttention({ B: op.batch, T: op.tokens, heads: op.heads, headDim: op.headDim, ...(op.queries ? { queries: op.queries } : {}) }, caps);
      return { family: 'attention', config, kernel: emitAttention(config), binds };
    }
    case 'timestep_embed': {
      const [tb, ob] = [b(ins.ins[0]!), b(ins.outs[0]!)];
      binds.set('t', tb).set('out', ob);
      const config = selectTimestepEmbed({ B: op.batch, dim: op.dim, maxPeriod: op.maxPeriod, offsets: { t: tb.rest, out: ob.rest } }, caps);
      return { family: 'timestep_embed', config, kernel: emitTimestepEmbed(config), binds };
    }
    case 'embedding': {
      const [ids, table] = ins.ins as [Operand, Operand];
      const [ib, ob] = [b(ids), b(ins.outs[0]!)];
      binds.set('ids', ib).set('table', exact('table', b(table), 'label_embed')).set('out', ob);
      const config = selectLabelEmbed({ B: op.batch, rows: op.rows, dim: op.dim, tableDtype: dt(table), offsets: { ids: ib.rest, out: ob.rest } }, caps);
      return { family: 'label_embed', config, kernel: emitLabelEmbed(config), binds };
    }
    case 'unpatchify': {
      const [xb, ob] = [b(ins.ins[0]!), b(ins.outs[0]!)];
      binds.set('x', xb).set('out', ob);
      const config = selectUnpatchify({ B: op.batch, grid: op.grid, patch: op.patch, channels: op.channels, offsets: { x: xb.rest, out: ob.rest } }, caps);
      return { family: 'unpatchify', config, kernel: emitUnpatchify(config), binds };
    }
    case 'dynamic_decide': {
      const [signal, input] = ins.ins as [Operand, Operand | undefined];
      binds.set('signal', exact('signal', b(signal), 'dynamic_decide'));
      if (input) binds.set('input', exact('input', b(input), 'dynamic_decide'));
      const [prev, state, args] = ins.outs as [Operand, Operand, Operand | undefined];
      binds.set('prev', exact('prev', b(prev), 'dynamic_decide')).set('state', exact('state', b(state), 'dynamic_decide'));
      if (args) binds.set('args', exact('args', b(args), 'dynamic_decide'));
      const config = selectDynamicDecide({ rule: op.rule, elements: op.elements, residual: input !== undefined, params: op.params, used: op.used, guarded: op.used ? guarded : [], ...(op.uncondRecord !== undefined ? { uncondRecord: op.uncondRecord } : {}) });
      return { family: 'dynamic_decide', config, kernel: emitDynamicDecide(config), binds };
    }
    case 'dynamic_rate': {
      const [output, input] = ins.ins as [Operand, Operand];
      const [lastOut, lastIn, state] = ins.outs as [Operand, Operand, Operand];
      binds.set('output', exact('output', b(output), 'dynamic_rate')).set('input', exact('input', b(input), 'dynamic_rate'));
      binds.set('last_out', exact('last_out', b(lastOut), 'dynamic_rate')).set('last_in', exact('last_in', b(lastIn), 'dynamic_rate')).set('state', exact('state', b(state), 'dynamic_rate'));
      const config: DynamicRateConfig = { rule: op.rule, elements: op.elements, rateUpdate: true, workgroupSize: 256 };
      return { family: 'dynamic_decide', config, kernel: emitDynamicRate(config), binds };
    }
    case 'dynamic_reset': {
      binds.set('state', exact('state', b(ins.outs[0]!), 'dynamic_reset'));
      const config = { rules: op.rules };
      return { family: 'dynamic_decide', config, kernel: emitDynamicReset(config), binds };
    }
    case 'conv2d': {
      const [x, w, ...rest] = ins.ins as [Operand, Operand, ...Operand[]];
      binds.set('x', exact('x', b(x), 'conv2d')).set('w', exact('w', b(w), 'conv2d'));
      let k = 0;
      if (op.bias) binds.set('bias', exact('bias', b(rest[k++]!), 'conv2d'));
      if (op.residual === 'buffer') binds.set('residual', exact('residual', b(rest[k++]!), 'conv2d'));
      binds.set('y', exact('y', b(ins.outs[0]!), 'conv2d'));
      const config = selectConv2d({
        B: op.B, Cin: op.Cin, H: op.H, W: op.W, Cout: op.Cout, kernel: op.kernel, padding: op.padding, upsample: op.upsample,
        bias: op.bias, residual: op.residual, wDtype: dt(w),
      }, caps);
      return { family: 'conv2d', config, kernel: emitConv2d(config), binds };
    }
    case 'group_norm': {
      const [x, weight, bias] = ins.ins as [Operand, Operand, Operand];
      binds.set('x', exact('x', b(x), 'group_norm')).set('weight', exact('weight', b(weight), 'group_norm')).set('bias', exact('bias', b(bias), 'group_norm'));
      binds.set('y', exact('y', b(ins.outs[0]!), 'group_norm'));
      const config = selectGroupNorm({ B: op.B, C: op.C, S: op.S, groups: op.groups, eps: op.eps, silu: op.silu, out: op.out, xDtype: dt(x) }, caps);
      return { family: 'group_norm', config, kernel: emitGroupNorm(config), binds };
    }
    case 'upsample_nearest': {
      const x = ins.ins[0]!;
      binds.set('x', exact('x', b(x), 'upsample_nearest')).set('y', exact('y', b(ins.outs[0]!), 'upsample_nearest'));
      const config = selectUpsampleNearest({ planes: op.planes, H: op.H, W: op.W, factor: op.factor, xDtype: dt(x) }, caps);
      return { family: 'upsample_nearest', config, kernel: emitUpsampleNearest(config), binds };
    }
    case 'lowpass': {
      binds.set('x', exact('x', b(ins.ins[0]!), 'lowpass')).set('out', exact('out', b(ins.outs[0]!), 'lowpass'));
      const config = selectLowpass({ planes: op.planes, H: op.H, W: op.W, radius: op.radius });
      return { family: 'lowpass', config, kernel: emitLowpass(config), binds };
    }
    case 'token_rows': {
      const [src, dst] = [ins.ins[0]!, ins.outs[0]!];
      const sb = b(src);
      const db = b(dst);
      binds.set('src', sb).set('dst', db);
      // [samples, rows, dim] views; a single sample's stride is never used.
      const rows = (o: Operand, rest: number) => ({ offset: rest, sampleStride: o.view.shape[0] === 1 ? 0 : o.view.strides[0]!, rowStride: o.view.strides[1]! });
      const [full, packed] = op.mode === 'gather' ? [rows(src, sb.rest), rows(dst, db.rest)] : [rows(dst, db.rest), rows(src, sb.rest)];
      const config = selectTokenRows({ mode: op.mode, samples: op.samples, tokens: op.tokens, dim: op.dim, indices: op.indices, full, packed, srcDtype: dt(src) }, caps);
      return { family: 'token_rows', config, kernel: emitTokenRows(config), binds };
    }
    case 'elementwise': {
      const inputs = ins.ins.map((o, i) => {
        const bo = b(o);
        binds.set(`i${i}`, bo);
        return { name: `i${i}`, view: { offset: bo.rest, strides: o.view.strides.map((s, k) => (o.view.shape[k] === 1 ? 0 : s)) }, dtype: dt(o) };
      });
      const outputs = ins.outs.map((o, j) => {
        const bo = b(o);
        binds.set(`o${j}`, bo);
        return { name: `o${j}`, view: { offset: bo.rest, strides: o.view.strides.map((s, k) => (o.view.shape[k] === 1 ? 0 : s)) }, expr: op.exprs[j]! };
      });
      if (ins.usesParams) binds.set('u', { value: 'params', rest: 0, byteOffset: 0 });
      // The whole row: the sampler's fields, then the cache work's per-step numbers (passes/stepConstants.ts).
      const uniforms = ins.usesParams ? numel(values.get('params')!.shape) : 0;
      const config = selectElementwise({ shape: op.shape, inputs, outputs, uniforms, label: op.label.replace(/[^a-z0-9_+]/gi, '_') }, caps);
      return { family: 'elementwise', config, kernel: emitElementwise(config), binds };
    }
  }
}
