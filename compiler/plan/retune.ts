/**
 * Tuned plans: which matmul kernels of a plan `ditto tune` may re-choose, and the plan with chosen
 * variants — the kernels re-emitted (WGSL, key, workgroup size, config), their dispatches' workgroup
 * counts updated, the choices recorded in `plan.tuning`, and the hash recomputed, so a tuned plan is
 * an ordinary plan (plain data) that any runner executes. Pure: the timing is runtime/tune.ts.
 */
import { DittoError } from '../../core/errors.ts';
import { canonicalJson, emitMatmul, withMatmulVariant, type AdapterCaps, type MatmulConfig, type MatmulVariant } from '../kernels/index.ts';
import { sha256 } from './tables.ts';
import type { AnyPlan, ForwardPlan, Plan, PlanDispatch, PlanTuning } from './types.ts';

/** Every dispatch list of a plan of either mode. */
export function planDispatches(plan: AnyPlan): PlanDispatch[] {
  if (plan.mode === 'forward') return plan.body.dispatches;
  return [plan.prologue, ...plan.bodies].flatMap((b) => b.dispatches);
}

export interface TunableKernel {
  kernel: number;
  config: MatmulConfig;
}

/**
 * The matmul kernels whose variant can change: every dispatch of theirs is direct. A kernel behind a
 * dynamic rule is dispatched indirectly with workgroup counts written by the rule's kernel, which
 * would have to be re-emitted too; those keep the compiler's choice (`skipped`).
 */
export function tunableKernels(plan: AnyPlan): { tunable: TunableKernel[]; skipped: number[] } {
  const indirect = new Set(planDispatches(plan).filter((d) => d.indirect).map((d) => d.kernel));
  const tunable: TunableKernel[] = [];
  const skipped: number[] = [];
  plan.kernels.forEach((k, id) => {
    if (k.family !== 'matmul') return;
    const config = k.config as MatmulConfig | null;
    if (!config || typeof config !== 'object' || !config.variant) throw new DittoError('E_PLAN', `plan: kernels[${id}] is a matmul without a config`);
    if (indirect.has(id)) skipped.push(id);
    else tunable.push({ kernel: id, config });
  });
  return { tunable, skipped };
}

/** The plan with `choices` (kernel id → variant) applied and recorded; the hash recomputed. */
export function applyMatmulVariants<P extends AnyPlan>(plan: P, choices: ReadonlyMap<number, MatmulVariant>, caps: AdapterCaps, tuning: Omit<PlanTuning, 'kernels'> & { kernels: PlanTuning['kernels'] }): P {
  const kernels = plan.kernels.map((k, id) => {
    const v = choices.get(id);
    if (!v) return k;
    if (k.family !== 'matmul') throw new DittoError('E_INTERNAL', `tune: kernel ${id} is not a matmul`);
    const config = withMatmulVariant(k.config as MatmulConfig, v, caps);
    const e = emitMatmul(config);
    return { ...k, key: e.key, config, wgsl: e.wgsl, workgroupSize: e.workgroupSize };
  });
  const grid = new Map<number, [number, number, number]>();
  for (const id of choices.keys()) grid.set(id, emitMatmul(kernels[id]!.config as MatmulConfig).dispatch);
  const redispatch = (d: PlanDispatch): PlanDispatch => {
    const g = grid.get(d.kernel);
    if (!g) return d;
    if (d.indirect) throw new DittoError('E_INTERNAL', `tune: kernel ${d.kernel} is dispatched indirectly`);
    return { ...d, workgroups: g };
  };
  const body = (b: { dispatches: PlanDispatch[]; cacheReads: string[]; cacheWrites: string[] }) => ({ ...b, dispatches: b.dispatches.map(redispatch) });
  const p = plan as AnyPlan;
  const next: Omit<ForwardPlan, 'hash'> | Omit<Plan, 'hash'> = p.mode === 'forward'
    ? { ...withoutHash(p), kernels, body: body(p.body), tuning }
    : { ...withoutHash(p), kernels, prologue: body(p.prologue), bodies: p.bodies.map(body), tuning };
  return { ...next, hash: planHash(next) } as P;
}

function withoutHash<T extends { hash: string }>(p: T): Omit<T, 'hash'> {
  const { hash: _h, ...rest } = p;
  void _h;
  return rest;
}

/** The plan's identity: sha256 of its canonical JSON without the hash field (as the compiler writes it). */
export function planHash(plan: object): string {
  const { hash: _h, ...rest } = plan as { hash?: string };
  void _h;
  return sha256(canonicalJson(rest));
}
