/**
 * The image-op part of pass `fuse` (the VAE decoder), run before the other patterns:
 *
 *  1. upsample → conv: a nearest upsampling read only by a conv2d is folded into the conv's input
 *     indexing (no 4× intermediate);
 *  2. group_norm → silu: the SiLU is applied in the group_norm kernel;
 *  3. group_norm → to_tokens: the group_norm writes tokens [B, S, C] (the transpose costs nothing);
 *  4. conv2d → `+ residual`: the add becomes the conv's residual epilogue (the conv moves to the
 *     add's place, so a residual computed after the conv — the 1×1 conv_shortcut — is ready);
 *  5. concat placement: a part of a concatenation whose only reader is its concat copy is written
 *     straight into its slice by its producer (a matmul with a row stride, or an elementwise),
 *     nested concats included — for pixel attention, the q/k/v projections fill [q | k | v].
 *
 * `h + to_image(o)` needs no pattern here: to_image is an elementwise copy that the elementwise
 * chain fusion inlines into the add.
 */
import { numel } from '../../core/tensor.ts';
import type { Expr, Instr, Operand, View } from './ir.ts';
import { compact, isUnary, merged, sameGuard, soleReader, transient, uses, type FuseContext } from './fuse.ts';
import { isRows } from './lowerBody.ts';
import { contiguous, sameView } from './views.ts';

export function fuseImageOps(instrs: Instr[], ctx: FuseContext): Instr[] {
  if (!instrs.some((i) => i.op.kind === 'conv2d' || i.op.kind === 'group_norm' || i.op.kind === 'upsample_nearest' || (i.op.kind === 'elementwise' && i.op.label === 'concat'))) return instrs;
  instrs = upsampleIntoConv(instrs, ctx);
  instrs = groupNormEpilogue(instrs, ctx, 'silu');
  instrs = groupNormEpilogue(instrs, ctx, 'to_tokens');
  instrs = convResidual(instrs, ctx);
  instrs = placeConcatParts(instrs, ctx);
  return instrs;
}

/** The view of a whole value, contiguous from element 0. */
function isWhole(o: Operand, ctx: FuseContext): boolean {
  return sameView(o.view, contiguous(ctx.values.get(o.value)!.shape));
}

function upsampleIntoConv(instrs: Instr[], ctx: FuseContext): Instr[] {
  const u = uses(instrs);
  const out: (Instr | null)[] = [...instrs];
  instrs.forEach((up, i) => {
    if (up.op.kind !== 'upsample_nearest' || !transient(ctx, up.outs[0]!.value)) return;
    const r = soleReader(u, up.outs[0]!.value);
    if (r === undefined) return;
    const conv = instrs[r]!;
    if (conv.op.kind !== 'conv2d' || conv.op.upsample !== 1 || !sameGuard(up, conv) || conv.ins[0]!.value !== up.outs[0]!.value) return;
    if (conv.ins.slice(1).some((o) => o.value === up.outs[0]!.value)) return;
    const f = up.op.factor;
    out[r] = merged(up, conv, { op: { ...conv.op, H: up.op.H, W: up.op.W, upsample: f }, ins: [up.ins[0]!, ...conv.ins.slice(1)], note: `nearest ×${f} folded into the conv's indexing` });
    out[i] = null;
  });
  return compact(out);
}

/** group_norm followed by its sole reader `silu` (fused activation) or `to_tokens` (token output). */
function groupNormEpilogue(instrs: Instr[], ctx: FuseContext, what: 'silu' | 'to_tokens'): Instr[] {
  const u = uses(instrs);
  const out: (Instr | null)[] = [...instrs];
  instrs.forEach((gn, i) => {
    if (gn.op.kind !== 'group_norm' || gn.op.out !== 'nchw' || (what === 'silu' && gn.op.silu) || !transient(ctx, gn.outs[0]!.value)) return;
    const g = gn.outs[0]!;
    const r = soleReader(u, g.value);
    if (r === undefined) return;
    const e = instrs[r]!;
    if (e.op.kind !== 'elementwise' || !sameGuard(gn, e) || e.ins.length !== 1 || e.outs.length !== 1 || e.ins[0]!.value !== g.value) return;
    if ((u.writers.get(e.outs[0]!.value) ?? []).length !== 1 || !isWhole(e.outs[0]!, ctx)) return;
    const { B, C, S } = gn.op;
    if (what === 'silu') {
      if (!isUnary(e, 'silu') || !sameView(e.ins[0]!.view, g.view)) return;
      out[i] = merged(gn, e, { op: { ...gn.op, silu: true }, ins: gn.ins, outs: e.outs, note: 'group_norm + SiLU' });
    } else {
      const tokens: View = { offset: 0, shape: [B, S, C], strides: [C * S, 1, S] };
      if (e.op.label !== 'to_tokens' || !sameView(e.ins[0]!.view, tokens)) return;
      out[i] = merged(gn, e, { op: { ...gn.op, out: 'tokens' }, ins: gn.ins, outs: e.outs, note: 'group_norm writing tokens' });
    }
    out[r] = null;
  });
  return compact(out);
}

function isPlainAdd(e: Expr): boolean {
  return e.op === 'add' && e.a.op === 'input' && e.b.op === 'input' && e.a.index !== e.b.index;
}

function convResidual(instrs: Instr[], ctx: FuseContext): Instr[] {
  const u = uses(instrs);
  const out: (Instr | null)[] = [...instrs];
  const taken = new Set<number>();
  instrs.forEach((conv, i) => {
    if (conv.op.kind !== 'conv2d' || conv.op.residual !== 'none' || !transient(ctx, conv.outs[0]!.value)) return;
    const v = conv.outs[0]!;
    const ai = soleReader(u, v.value);
    if (ai === undefined || taken.has(ai)) return;
    const a = instrs[ai]!;
    if (a.op.kind !== 'elementwise' || !sameGuard(conv, a) || a.ins.length !== 2 || a.outs.length !== 1 || a.op.exprs.length !== 1 || !isPlainAdd(a.op.exprs[0]!)) return;
    const vi = a.ins.findIndex((o) => o.value === v.value);
    if (vi < 0) return;
    const res = a.ins[1 - vi]!;
    const y = a.outs[0]!;
    if (!sameView(a.ins[vi]!.view, v.view) || !isWhole(res, ctx) || !isWhole(y, ctx) || res.value === y.value || res.value === v.value) return;
    if (numel(ctx.values.get(res.value)!.shape) !== numel(ctx.values.get(v.value)!.shape) || numel(ctx.values.get(y.value)!.shape) !== numel(ctx.values.get(v.value)!.shape)) return;
    if ((u.writers.get(y.value) ?? []).length !== 1) return;
    // Moving the conv to the add's place must not skip over a write to one of its inputs.
    for (let j = i + 1; j < ai; j++) if (instrs[j]!.outs.some((o) => conv.ins.some((x) => x.value === o.value))) return;
    out[ai] = merged(conv, a, { op: { ...conv.op, residual: 'buffer' }, ins: [...conv.ins, res], outs: [y], note: conv.note ? `${conv.note}; + residual` : 'conv + residual' });
    out[i] = null;
    taken.add(ai);
  });
  return compact(out);
}

/** Where element `offset` of a contiguous `shape` lands under `to` (a view of the same shape). */
function compose(w: View, xShape: number[], to: View): View | undefined {
  const xs = contiguous(xShape).strides;
  if (w.shape.length !== xShape.length || w.shape.some((d, k) => d !== 1 && w.strides[k] !== xs[k])) return undefined;
  let rest = w.offset;
  let offset = to.offset;
  xs.forEach((s, k) => {
    offset += Math.floor(rest / s) * to.strides[k]!;
    rest %= s;
  });
  return { offset, shape: [...w.shape], strides: w.shape.map((_, k) => to.strides[k]!) };
}

function placeConcatParts(instrs: Instr[], ctx: FuseContext): Instr[] {
  for (;;) {
    const u = uses(instrs);
    let applied = false;
    for (let ci = 0; ci < instrs.length && !applied; ci++) {
      const c = instrs[ci]!;
      if (c.op.kind !== 'elementwise' || c.op.label !== 'concat' || c.ins.length !== 1) continue;
      const x = c.ins[0]!;
      if (!transient(ctx, x.value) || !isWhole(x, ctx) || soleReader(u, x.value) !== ci) continue;
      const writers = u.writers.get(x.value) ?? [];
      if (writers.length === 0 || writers.some((wi) => wi > ci)) continue;
      const xShape = ctx.values.get(x.value)!.shape;
      const to = c.outs[0]!;
      const rewritten = writers.map((wi) => {
        const wr = instrs[wi]!;
        if (!sameGuard(wr, c) || wr.outs.length !== 1 || (wr.op.kind !== 'matmul' && wr.op.kind !== 'elementwise')) return undefined;
        if (wr.op.kind === 'matmul' && wr.op.gate) return undefined; // its residual is laid out like C
        const view = compose(wr.outs[0]!.view, xShape, to.view);
        if (!view || (wr.op.kind === 'matmul' && !isRows(view))) return undefined;
        return { ...wr, outs: [{ value: to.value, view }], covers: [...new Set([...wr.covers, ...c.covers])] };
      });
      if (rewritten.some((r) => r === undefined)) continue;
      const next: (Instr | null)[] = [...instrs];
      writers.forEach((wi, j) => (next[wi] = rewritten[j]!));
      next[ci] = null;
      instrs = compact(next);
      applied = true;
    }
    if (!applied) return instrs;
  }
}
