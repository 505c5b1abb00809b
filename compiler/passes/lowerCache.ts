/**
 * The cache traffic of one node in one CFG half: store its value (or refresh its Taylor
 * differences) and its block residual at a compute; read the slot back, forecast from the
 * differences, or add the stored residual to the block's input where it is not computed.
 * The arithmetic is compiler/ir/rules.ts's, as elementwise instructions.
 */
import { invariant } from '../../core/errors.ts';
import type { Node } from '../ir/graph.ts';
import { exponentialForecast, forecastName, lowpassRadius, type ForecastAlgebra } from '../ir/rules.ts';
import { ex, type Expr } from '../kernels/elementwise.ts';
import type { Branch, InstrRole, Operand, TargetInfo, TargetStep } from './ir.ts';
import { type BodyBuilder, bin, C, declare, IN, outView, type Range, slotName } from './lowerBody.ts';
import { constantColumn } from './stepConstants.ts';
import { contiguous, restrict } from './views.ts';

export function copyHalf(b: BodyBuilder, from: string, to: string, n: Node, R: Range, role: InstrRole, tag: { branch?: Branch }): void {
  const src = outView(b, from, R);
  b.emit({ op: { kind: 'elementwise', shape: src.view.shape, exprs: [IN(0)], label: role === 'reuse' ? 'reuse' : 'cache_store' }, ins: [src], outs: [outView(b, to, R)], covers: [n.id], role, ...tag });
}

export function storeValue(b: BodyBuilder, info: TargetInfo, n: Node, R: Range, value: string, ts: TargetStep, tag: { branch?: Branch }): void {
  if (!ts.taylor) {
    copyHalf(b, value, slotName(b.ctx, info, n), n, R, 'cache_write', tag);
    return;
  }
  // Taylor refresh in place, as TaylorState.refresh (compiler/ir/rules.ts): d0 ← v, d_j ← (d_{j−1}new − d_{j−1}old) · invDelta.
  const { orders } = ts.taylor;
  const slots = Array.from({ length: orders + 1 }, (_, j) => slotName(b.ctx, info, n, j === 0 ? '' : `:d${j}`));
  const src = outView(b, value, R);
  const exprs: Expr[] = [IN(0)];
  for (let j = 1; j <= orders; j++) exprs.push(bin('mul', bin('sub', exprs[j - 1]!, { op: 'output', index: j - 1 }), stepNumber(ts, 0)));
  b.emit({
    op: { kind: 'elementwise', shape: src.view.shape, exprs, label: 'taylor_update' },
    ins: [src], outs: slots.map((s) => outView(b, s, R)), covers: [n.id], role: 'cache_write', ...tag, ...readsParams(ts),
    note: `Taylor refresh of ${info.path} (order ${orders}${orders >= 1 ? `, 1/Δ in ${columnName(ts, 0)}` : ''})`,
  });
}

export function storeResidual(b: BodyBuilder, info: TargetInfo, n: Node, R: Range, tag: { branch?: Branch }): void {
  const res = slotName(b.ctx, info, n, ':res');
  b.emit({
    op: { kind: 'elementwise', shape: restrict(contiguous([...n.shape]), R, b.ctx.io.modelBatch).shape, exprs: [bin('sub', IN(0), IN(1))], label: 'residual_store' },
    ins: [b.at(n.id, R), b.at(info.blockInput!, R)], outs: [outView(b, res, R)], covers: [n.id], role: 'cache_write', ...tag,
    note: `residual of ${info.path}`,
  });
}

export function forecast(b: BodyBuilder, info: TargetInfo, n: Node, R: Range, value: string, ts: TargetStep, tag: { branch?: Branch }): void {
  const { m, order, basis, interval } = ts.forecast!;
  const ins: Operand[] = [];
  let expr: Expr | undefined;
  for (let j = 0; j <= order; j++) ins.push(outView(b, slotName(b.ctx, info, n, j === 0 ? '' : `:d${j}`), R));
  if (basis?.form === 'exp' && order >= 2) {
    expr = exponentialForecast(EXPR_ALGEBRA, IN(0), IN(1), IN(2), m, interval!);
  } else {
    // d₀ + Σ c_j·d_j, the c_j (compiler/ir/rules.ts forecastCoefficients) from the params row.
    for (let j = 0; j <= order; j++) {
      const term = j === 0 ? IN(0) : bin('mul', IN(j), stepNumber(ts, j - 1));
      expr = expr ? bin('add', expr, term) : term;
    }
  }
  const out = outView(b, value, R);
  const what = ts.constants === undefined ? `${m} step(s) ahead, ${forecastName(order, basis)}` : order >= 1 ? `order ${order}, the coefficients of d₁…d${order} in params[${constantColumn(ts, 0)}${order > 1 ? `…${constantColumn(ts, order - 1)}` : ''}]` : 'order 0 (the last compute)';
  b.emit({ op: { kind: 'elementwise', shape: out.view.shape, exprs: [expr!], label: 'taylor_forecast' }, ins, outs: [out], covers: [n.id], role: 'forecast', ...tag, ...readsParams(ts), note: `forecast ${info.path}: ${what}` });
}

export function residual(b: BodyBuilder, info: TargetInfo, n: Node, R: Range, value: string, tag: { branch?: Branch }): void {
  const res = outView(b, slotName(b.ctx, info, n, ':res'), R);
  const out = outView(b, value, R);
  b.emit({ op: { kind: 'elementwise', shape: out.view.shape, exprs: [bin('add', IN(0), IN(1))], label: 'residual_reuse' }, ins: [b.at(info.blockInput!, R), res], outs: [out], covers: [n.id], role: 'residual', ...tag, note: `${info.path} = input + stored residual` });
}

// ---------------------------------------------------------------------------------------------
// FasterCache's CFG-Cache (compiler/ir/rules.ts `cfgBands`, `uncondFromBands`)

/** A band slot of the model output: one half of the batch ([batch, C, H, W], from offset 0, so the
 *  lowpass family, which takes no offsets, binds it whole). */
function bandSlot(b: BodyBuilder, info: TargetInfo, n: Node, band: 'low' | 'high'): string {
  return declare(b.ctx, { name: `cache:${info.path}:${band}`, shape: [b.ctx.io.batch, ...n.shape.slice(1)], dtype: 'f32', storage: 'cache' });
}

/** At a compute of both halves of the model output: Δ = uncond − cond into the high slot, low(Δ)
 *  into the low slot (the `lowpass` family), then high ← Δ − low in place. */
export function storeBands(b: BodyBuilder, info: TargetInfo, n: Node, value: string): void {
  const B = b.ctx.io.batch;
  const [, C, H, W] = n.shape as [number, number, number, number];
  const half = contiguous([B, C, H, W]);
  const low = { value: bandSlot(b, info, n, 'low'), view: half };
  const high = { value: bandSlot(b, info, n, 'high'), view: half };
  const tag = { branch: 'uncond' as const };
  b.emit({
    op: { kind: 'elementwise', shape: [B, C, H, W], exprs: [bin('sub', IN(0), IN(1))], label: 'cfg_delta' },
    ins: [outView(b, value, { start: B, count: B }), outView(b, value, { start: 0, count: B })], outs: [high], covers: [n.id], role: 'cache_write', ...tag,
    note: `${info.path}: uncond − cond, for the frequency bands`,
  });
  b.emit({ op: { kind: 'lowpass', planes: B * C, H, W, radius: lowpassRadius(H, W) }, ins: [high], outs: [low], covers: [n.id], role: 'cache_write', ...tag, note: `${info.path}: the low band of uncond − cond` });
  b.emit({
    op: { kind: 'elementwise', shape: [B, C, H, W], exprs: [bin('sub', { op: 'output', index: 0 }, IN(0))], label: 'cfg_high' },
    ins: [low], outs: [high], covers: [n.id], role: 'cache_write', ...tag, note: `${info.path}: the high band of uncond − cond`,
  });
}

/** At a `cfg_cache` step: uncond = (cond + w_low·low) + w_high·high, written to a temporary and
 *  copied into the unconditional half (one dispatch may not read and write the same buffer). */
export function fromBands(b: BodyBuilder, info: TargetInfo, n: Node, value: string, ts: TargetStep): void {
  const B = b.ctx.io.batch;
  const shape = [B, ...n.shape.slice(1)];
  const tmp = { value: b.temp(shape), view: contiguous(shape) };
  const tag = { branch: 'uncond' as const };
  b.emit({
    op: { kind: 'elementwise', shape, exprs: [bin('add', bin('add', IN(0), bin('mul', IN(1), stepNumber(ts, 0))), bin('mul', IN(2), stepNumber(ts, 1)))], label: 'cfg_cache' },
    ins: [outView(b, value, { start: 0, count: B }), { value: bandSlot(b, info, n, 'low'), view: contiguous(shape) }, { value: bandSlot(b, info, n, 'high'), view: contiguous(shape) }],
    outs: [tmp], covers: [n.id], role: 'reuse', ...tag, ...readsParams(ts), note: `${info.path} (uncond) = cond + w_low·low + w_high·high, the weights in ${columnName(ts, 0)}, ${columnName(ts, 1)}`,
  });
  b.emit({ op: { kind: 'elementwise', shape, exprs: [IN(0)], label: 'reuse' }, ins: [tmp], outs: [outView(b, value, { start: B, count: B })], covers: [n.id], role: 'reuse', ...tag });
}

/** The j-th per-step number of an entry (passes/stepConstants.ts): its params column. */
function stepNumber(ts: TargetStep, j: number): Expr {
  invariant(ts.constants !== undefined, `${ts.target}: a per-step number without a params column`);
  return { op: 'uniform', index: constantColumn(ts, j) };
}

const readsParams = (ts: TargetStep): { usesParams?: true } => (ts.constants !== undefined ? { usesParams: true } : {});

function columnName(ts: TargetStep, j: number): string {
  return `params[${constantColumn(ts, j)}]`;
}

/** The `exp` forecast's formula (compiler/ir/rules.ts) built as the kernel's expression tree. */
const EXPR_ALGEBRA: ForecastAlgebra<Expr> = {
  c: (v) => C(v),
  add: ex.add,
  sub: ex.sub,
  mul: ex.mul,
  div: ex.div,
  min: ex.min,
  max: ex.max,
  pow: ex.pow,
};
