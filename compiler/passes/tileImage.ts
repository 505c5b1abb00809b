/**
 * Pass `tile-image` (forward plans): splits the image ops whose tensors would not fit in one storage
 * binding of the adapter (`maxStorageBufferBindingSize`) into dispatches over **channel ranges**.
 *
 * In NCHW a range of channels of one sample is one contiguous byte range, so every piece binds a
 * window of the original buffers at an aligned offset, and the families need no offset support:
 *  - conv2d: output channels [o0, o1) × input channels [i0, i1). The first input range writes
 *    y = conv + bias (+ residual); later ranges accumulate in place (y += conv): a conv is a sum over
 *    input channels, so the result differs from the untiled conv only by the order of f32 additions.
 *    The weight [o0:o1, i0:i1] and bias [o0:o1] pieces are derived weights (the runtime slices them).
 *  - group_norm: whole groups (a group's statistics are computed over the group, so the result is
 *    bit-identical to the untiled norm); weight and bias sliced per range.
 *  - upsample_nearest: ranges of planes.
 * One channel plane (or one group) larger than the limit cannot be split this way: E_GPU.
 * Instructions whose tensors fit are left alone; a plan that fits the limit is unchanged.
 */
import { DittoError } from '../../core/errors.ts';
import type { CompileCaps } from '../plan/caps.ts';
import type { Body, Instr, Operand, ValueInfo } from './ir.ts';

export interface TileContext {
  values: Map<string, ValueInfo>;
  caps: CompileCaps;
}

/** [start, end) ranges of `count` units, `per` units each (the last may be shorter). */
function ranges(count: number, per: number): [number, number][] {
  const out: [number, number][] = [];
  for (let s = 0; s < count; s += per) out.push([s, Math.min(count, s + per)]);
  return out;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** A contiguous window of `numel` elements of a value, as a flat view. */
function window(value: string, offset: number, shape: number[]): Operand {
  const strides = shape.map((_, k) => shape.slice(k + 1).reduce((a, b) => a * b, 1));
  return { value, view: { offset, shape, strides } };
}

interface Chunking {
  /** Samples dispatched separately (true when one sample's tensor alone needs splitting or B > 1 does not fit). */
  perSample: boolean;
  /** Units (channels or groups) per piece. */
  per: number;
}

/**
 * How to split `units` units of `unitElems` f32 elements each (per sample, `B` samples) so one
 * piece fits `limit` bytes and every piece starts on the storage alignment.
 */
function chunking(what: string, unit: string, B: number, units: number, unitElems: number, ctx: TileContext, alignElems = unitElems): Chunking {
  const limit = ctx.caps.maxStorageBufferBindingSize;
  const bytes = (n: number) => n * unitElems * 4;
  if (bytes(B * units) <= limit) return { perSample: false, per: units };
  const align = ctx.caps.minStorageBufferOffsetAlignment / 4;
  if (B > 1 && (units * alignElems) % align !== 0) {
    throw new DittoError('E_GPU', `${what}: one sample (${bytes(units)} bytes) starts at an offset that is not a multiple of ${ctx.caps.minStorageBufferOffsetAlignment} bytes; cannot split it over samples — use batch 1`);
  }
  if (bytes(units) <= limit) return { perSample: true, per: units };
  const step = align / gcd(alignElems, align);
  const fit = Math.floor(limit / bytes(1));
  const per = Math.floor(fit / step) * step;
  if (per < 1) {
    throw new DittoError(
      'E_GPU',
      `${what}: the smallest piece (${step} ${unit}${step > 1 ? 's' : ''}) needs ${bytes(step)} bytes in one binding, but this adapter allows at most ${limit} (maxStorageBufferBindingSize); ` +
        'tiling splits tensors over channels only, not within a plane',
    );
  }
  return { perSample: true, per };
}

/** Declares (once) the weight piece value[ranges] as a derived weight and returns it as an operand. */
function weightPiece(ctx: TileContext, w: Operand, sliceRanges: [number, number][]): Operand {
  const v = ctx.values.get(w.value)!;
  const full = sliceRanges.every(([a, b], k) => a === 0 && b === v.shape[k]);
  if (full) return w;
  if (v.storage !== 'weight' || v.derived) {
    throw new DittoError('E_INTERNAL', `tile-image: cannot slice ${w.value} (storage ${v.storage})`);
  }
  const shape = v.shape.map((d, k) => (k < sliceRanges.length ? sliceRanges[k]![1] - sliceRanges[k]![0] : d));
  const name = `${w.value}[${sliceRanges.map(([a, b]) => `${a}:${b}`).join(',')}]`;
  if (!ctx.values.has(name)) {
    ctx.values.set(name, { name, shape, dtype: v.dtype, storage: 'weight', derived: { kind: 'slice', of: w.value.replace(/^w:/, ''), ranges: sliceRanges.map((r) => [...r] as [number, number]) } });
  }
  return window(name, 0, shape);
}

function piece(ins: Instr, op: Instr['op'], inOps: Operand[], outOps: Operand[], note: string): Instr {
  return { ...ins, op, ins: inOps, outs: outOps, cacheReads: [...ins.cacheReads], cacheWrites: [...ins.cacheWrites], note: ins.note ? `${ins.note} ${note}` : note };
}

function tileConv(ins: Instr, ctx: TileContext): Instr[] {
  const op = ins.op;
  if (op.kind !== 'conv2d') return [ins];
  const { B, Cin, H, W, Cout, kernel, padding, upsample } = op;
  const OH = H * upsample + 2 * padding - kernel + 1;
  const OW = W * upsample + 2 * padding - kernel + 1;
  const what = `conv2d ${Cin}→${Cout} at ${OH}×${OW}`;
  const xc = chunking(`${what} (input)`, 'channel', B, Cin, H * W, ctx);
  const yc = chunking(`${what} (output)`, 'channel', B, Cout, OH * OW, ctx);
  // The weight piece [out range, in range] is its own buffer (no alignment), but must fit a binding
  // too: fewer output channels per piece (kept on the output's alignment) until it does.
  const limit = ctx.caps.maxStorageBufferBindingSize;
  const align = ctx.caps.minStorageBufferOffsetAlignment / 4;
  const tapBytes = kernel * kernel * 4;
  if (yc.per * xc.per * tapBytes > limit) {
    const step = align / gcd(OH * OW, align);
    const per = Math.floor(Math.floor(limit / (xc.per * tapBytes)) / step) * step;
    if (per < 1) {
      throw new DittoError('E_GPU', `${what}: a weight piece of ${step} output × ${xc.per} input channels needs ${step * xc.per * tapBytes} bytes in one binding, but this adapter allows at most ${limit} (maxStorageBufferBindingSize)`);
    }
    yc.per = per;
    yc.perSample = true;
  }
  if (!xc.perSample && !yc.perSample) return [ins];
  if (B > 1 && ((Cin * H * W) % align !== 0 || (Cout * OH * OW) % align !== 0)) {
    throw new DittoError('E_GPU', `${what}: batch ${B} needs splitting over samples, but a sample does not start on a ${ctx.caps.minStorageBufferOffsetAlignment}-byte boundary — use batch 1`);
  }
  const [x, w, ...rest] = ins.ins as [Operand, Operand, ...Operand[]];
  const bias = op.bias ? rest[0]! : undefined;
  const residual = op.residual === 'buffer' ? rest[op.bias ? 1 : 0]! : undefined;
  const y = ins.outs[0]!;
  const out: Instr[] = [];
  for (let b = 0; b < B; b++) {
    for (const [o0, o1] of ranges(Cout, yc.per)) {
      const yOff = (b * Cout + o0) * OH * OW;
      const yShape = [1, o1 - o0, OH, OW];
      ranges(Cin, xc.per).forEach(([i0, i1], j) => {
        const first = j === 0;
        const inOps = [
          window(x.value, x.view.offset + (b * Cin + i0) * H * W, [1, i1 - i0, H, W]),
          weightPiece(ctx, w, [[o0, o1], [i0, i1]]),
        ];
        if (first && bias) inOps.push(weightPiece(ctx, bias, [[o0, o1]]));
        if (first && residual) inOps.push(window(residual.value, residual.view.offset + yOff, yShape));
        const pop = { ...op, B: 1, Cin: i1 - i0, Cout: o1 - o0, bias: first && op.bias, residual: first ? op.residual : ('inPlace' as const) };
        out.push(piece(ins, pop, inOps, [window(y.value, y.view.offset + yOff, yShape)], `[tile b${b} out ${o0}:${o1} in ${i0}:${i1}]`));
      });
    }
  }
  return out;
}

function tileGroupNorm(ins: Instr, ctx: TileContext): Instr[] {
  const op = ins.op;
  if (op.kind !== 'group_norm') return [ins];
  const { B, C, S, groups } = op;
  const cpg = C / groups;
  const c = chunking(`group_norm of ${C} channels × ${S} pixels`, 'group', B, groups, cpg * S, ctx);
  if (!c.perSample) return [ins];
  if (op.out === 'tokens') {
    throw new DittoError('E_GPU', `group_norm of ${C} channels × ${S} pixels writing tokens needs ${B * C * S * 4} bytes in one binding, over this adapter's maxStorageBufferBindingSize (${ctx.caps.maxStorageBufferBindingSize}); a token layout cannot be split over channels`);
  }
  const [x, weight, bias] = ins.ins as [Operand, Operand, Operand];
  const y = ins.outs[0]!;
  const out: Instr[] = [];
  for (let b = 0; b < B; b++) {
    for (const [g0, g1] of ranges(groups, c.per)) {
      const c0 = g0 * cpg, c1 = g1 * cpg;
      const shape = [1, c1 - c0, S];
      const off = (b * C + c0) * S;
      const pop = { ...op, B: 1, C: c1 - c0, groups: g1 - g0 };
      out.push(piece(ins, pop, [window(x.value, x.view.offset + off, shape), weightPiece(ctx, weight, [[c0, c1]]), weightPiece(ctx, bias, [[c0, c1]])],
        [window(y.value, y.view.offset + off, shape)], `[tile b${b} groups ${g0}:${g1}]`));
    }
  }
  return out;
}

function tileUpsample(ins: Instr, ctx: TileContext): Instr[] {
  const op = ins.op;
  if (op.kind !== 'upsample_nearest') return [ins];
  const { planes, H, W, factor } = op;
  const c = chunking(`upsample_nearest of ${planes} planes ${H}×${W} ×${factor}`, 'plane', 1, planes, H * W * factor * factor, ctx, H * W);
  if (!c.perSample) return [ins];
  const x = ins.ins[0]!, y = ins.outs[0]!;
  return ranges(planes, c.per).map(([p0, p1]) => piece(ins, { ...op, planes: p1 - p0 },
    [window(x.value, x.view.offset + p0 * H * W, [p1 - p0, H, W])],
    [window(y.value, y.view.offset + p0 * H * W * factor * factor, [p1 - p0, H * factor, W * factor])], `[tile planes ${p0}:${p1}]`));
}

/** Splits the image ops of `body` whose bindings exceed the adapter's limit; declares weight pieces in `ctx.values`. */
export function tileImageBody(body: Body, ctx: TileContext): Body {
  const instrs = body.instrs.flatMap((ins) => {
    switch (ins.op.kind) {
      case 'conv2d': return tileConv(ins, ctx);
      case 'group_norm': return tileGroupNorm(ins, ctx);
      case 'upsample_nearest': return tileUpsample(ins, ctx);
      default: return [ins];
    }
  });
  return { ...body, instrs };
}
