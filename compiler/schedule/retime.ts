/**
 * `ditto retime`: a resolved schedule mapped to another step count, and written back as a schedule
 * file. Step k′ of the new N steps takes the actions and eps scale of source step
 * round(k′·(S−1)/(N−1)) — the same point of the trajectory, by nearest index, as MagCache maps its
 * curve. Dynamic rules keep their thresholds (they bound changes accumulated over a stretch of the
 * trajectory, which does not depend on how finely it is cut) and scale what counts steps: warm-up,
 * the longest run of reuses and the total. Forecasts keep their order where the retimed history
 * feeds it (docs/decisions.md "retime").
 */
import { DittoError } from '../../core/errors.ts';
import type { Action, BranchActions, DynamicRule, ScheduleIR } from '../ir/schedule.ts';
import type { SamplerKind } from '../passes/options.ts';

/** The source step of new step k′ (N new steps, S source steps). */
export function retimeIndex(k: number, S: number, N: number): number {
  return N === 1 ? 0 : Math.round((k * (S - 1)) / (N - 1));
}

function scaleSteps(v: number, S: number, N: number, min: number): number {
  return Math.max(min, Math.round((v * N) / S));
}

export function retimeSchedule(s: ScheduleIR, N: number): ScheduleIR {
  if (!Number.isInteger(N) || N < 1) throw new DittoError('E_USAGE', `--steps must be a whole number ≥ 1, got ${N}`);
  const S = s.steps;
  const src = Array.from({ length: N }, (_, k) => retimeIndex(k, S, N));
  const dynamic: DynamicRule[] = s.dynamic.map((r) => ({
    ...r,
    warmup: r.warmup === 0 ? 0 : scaleSteps(r.warmup, S, N, 1),
    maxConsecutive: r.maxConsecutive >= S ? N : scaleSteps(r.maxConsecutive, S, N, 1),
    ...(r.maxReused !== undefined ? { maxReused: scaleSteps(r.maxReused, S, N, 0) } : {}),
  }));
  return { ...s, steps: N, ...withoutUnusedRules(withUsableOrders(src.map((k) => s.table[k]!)), dynamic), epsScale: src.map((k) => s.epsScale[k]!) };
}

/**
 * The dynamic rules some cell still refers to, renumbered. At a few steps a rule can lose every
 * cell (TeaCache at 2 steps: the first and last compute), and a rule that decides nothing is not
 * part of the schedule: the written file has no statement for it.
 */
function withoutUnusedRules(table: ScheduleIR['table'], dynamic: readonly DynamicRule[]): Pick<ScheduleIR, 'table' | 'dynamic'> {
  const used = new Set<number>();
  for (const row of table) for (const acts of Object.values(row)) for (const a of [acts.cond, acts.uncond]) if (a.kind === 'dynamic') used.add(a.rule);
  if (used.size === dynamic.length) return { table, dynamic: [...dynamic] };
  const renumber = new Map([...used].sort((a, b) => a - b).map((old, idx) => [old, idx]));
  const fix = (a: Action): Action => (a.kind === 'dynamic' ? { kind: 'dynamic', rule: renumber.get(a.rule)! } : a);
  return {
    table: table.map((row) => Object.fromEntries(Object.entries(row).map(([path, acts]) => [path, { cond: fix(acts.cond), uncond: fix(acts.uncond) }]))),
    dynamic: dynamic.filter((_, idx) => used.has(idx)),
  };
}

/**
 * Forecast orders lowered to what each step's history feeds (computes so far − 1; order 0 is
 * reuse): the same values, by the definition's fallback (`taylorUsableOrder`), written so that the
 * language, which refuses an order the schedule never reaches, accepts the retimed file.
 */
function withUsableOrders(table: readonly Readonly<Record<string, BranchActions>>[]): Readonly<Record<string, BranchActions>>[] {
  const computes = new Map<string, number>();
  const paths = new Set(table.flatMap((row) => Object.keys(row)));
  return table.map((row) => {
    const out: Record<string, BranchActions> = {};
    // A target a row leaves out computes at that step (`actionAt`): it feeds the history too.
    for (const path of paths) {
      if (row[path]) continue;
      for (const b of ['cond', 'uncond']) computes.set(`${path}|${b}`, (computes.get(`${path}|${b}`) ?? 0) + 1);
    }
    for (const [path, acts] of Object.entries(row)) {
      const fix = (b: 'cond' | 'uncond'): Action => {
        const a = acts[b];
        const key = `${path}|${b}`;
        if (a.kind === 'compute') computes.set(key, (computes.get(key) ?? 0) + 1);
        if (a.kind !== 'forecast') return a;
        const usable = Math.min(a.order, (computes.get(key) ?? 0) - 1);
        if (usable <= 0) return { kind: 'reuse' };
        if (usable === a.order) return a;
        // foca and exp take no order: below their two differences both are the line, taylor(1).
        return a.basis?.form === 'foca' || a.basis?.form === 'exp' ? { kind: 'forecast', order: usable } : { ...a, order: usable };
      };
      out[path] = { cond: fix('cond'), uncond: fix('uncond') };
    }
    return out;
  });
}

/** `steps a..b or steps c..d …` for a set of steps. */
function stepsPredicate(steps: readonly number[]): string {
  const runs: string[] = [];
  for (let i = 0; i < steps.length; ) {
    let j = i;
    while (j + 1 < steps.length && steps[j + 1] === steps[j]! + 1) j++;
    runs.push(`steps ${steps[i]}..${steps[j]! + 1}`);
    i = j + 1;
  }
  return runs.join(' or ');
}

function actionText(a: Action): string {
  switch (a.kind) {
    case 'reuse':
      return 'reuse';
    case 'reuse_residual':
      return 'reuse residual';
    case 'forecast':
      if (!a.basis) return `forecast taylor(${a.order})`;
      if (a.basis.form === 'hermite') return `forecast hermite(${a.order}, ${a.basis.sigma})`;
      return a.basis.form === 'linear' ? `forecast linear(${a.basis.weight})` : `forecast ${a.basis.form}`;
    case 'tokens':
      return `compute tokens(${a.fraction}${a.by.form === 'cluster' ? `, by = cluster(${a.by.size})` : ''})`;
    case 'cfg_cache':
      return `cfg_cache(low: ${a.low}, high: ${a.high}, boundary: ${a.boundary})`;
    default:
      throw new DittoError('E_INTERNAL', `no text for action ${a.kind}`);
  }
}

function whenText(r: DynamicRule, N: number): string {
  const m = /^(.*)\.residual$/.exec(r.signal);
  if (r.metric === 'transform_rate') {
    let out = `when transform_rate(${m ? m[1] : r.signal}) < ${r.threshold} warmup ${r.warmup}`;
    if (r.maxConsecutive < N) out += ` max ${r.maxConsecutive}`;
    return out;
  }
  const signal = m ? `residual(${m[1]})` : r.signal;
  let out = `when rel_l1(${signal})`;
  if (r.against === 'compute') out += ' since compute';
  if (r.rescale?.length) out += ` rescale(${r.rescale.join(', ')})`;
  out += ` < ${r.threshold}`;
  if (r.cap !== undefined) out += ` cap ${r.cap}`;
  out += ` warmup ${r.warmup}`;
  if (r.maxConsecutive < N) out += ` max ${r.maxConsecutive}`;
  if (r.maxReused !== undefined) out += ` total ${r.maxReused}`;
  if (r.perBranch) out += ' per_branch';
  return out;
}

/**
 * The schedule as a `.ditto` file: one rule per target, action and branch listing its steps
 * (dynamic rules: one statement per rule, so each keeps one state), eps scales by value. `sampler`:
 * the source's `sampler` statement, kept (it is not part of the resolved schedule).
 */
export function scheduleText(s: ScheduleIR, o: { name: string; use: string; comment: readonly string[]; sampler?: SamplerKind }): string {
  const N = s.steps;
  const branches = ['cond', 'uncond'] as const;
  // key → target → branch → steps
  const groups = new Map<string, { text: string; rule?: number; cells: Map<string, Record<'cond' | 'uncond', number[]>> }>();
  s.table.forEach((row: Readonly<Record<string, BranchActions>>, k) => {
    for (const [path, acts] of Object.entries(row)) {
      for (const b of branches) {
        const a = acts[b];
        if (a.kind === 'compute') continue;
        const key = a.kind === 'dynamic' ? `dynamic ${a.rule}` : JSON.stringify(a);
        let g = groups.get(key);
        if (!g) groups.set(key, (g = { text: a.kind === 'dynamic' ? actionText({ kind: s.dynamic[a.rule]!.then }) : actionText(a), ...(a.kind === 'dynamic' ? { rule: a.rule } : {}), cells: new Map() }));
        let c = g.cells.get(path);
        if (!c) g.cells.set(path, (c = { cond: [], uncond: [] }));
        c[b].push(k);
      }
    }
  });
  const shared: string[] = [];
  const only: Record<'cond' | 'uncond', string[]> = { cond: [], uncond: [] };
  for (const g of groups.values()) {
    // Targets with the same steps share a statement.
    const byPred = new Map<string, { paths: string[]; where: 'both' | 'cond' | 'uncond' }>();
    for (const [path, c] of g.cells) {
      const same = c.cond.join() === c.uncond.join();
      const entries: ['both' | 'cond' | 'uncond', number[]][] = same ? [['both', c.cond]] : [['cond', c.cond], ['uncond', c.uncond]];
      for (const [where, steps] of entries) {
        if (steps.length === 0) continue;
        const key = `${where}|${stepsPredicate(steps)}`;
        const e = byPred.get(key) ?? { paths: [], where };
        e.paths.push(path);
        byPred.set(key, e);
      }
    }
    if (g.rule !== undefined && byPred.size > 1) {
      throw new DittoError('E_USAGE', `dynamic rule ${g.rule}'s targets follow it at different steps, which one rule statement cannot say; retime its schedule's source instead`);
    }
    for (const [key, { paths, where }] of byPred) {
      const pred = key.slice(key.indexOf('|') + 1);
      // `cfg_cache` names no target and stands outside the branch blocks (it is the output's uncond half).
      if (g.text.startsWith('cfg_cache')) {
        shared.push(`${g.text} at ${pred}`);
        continue;
      }
      const line = `${paths.join(', ')} ${g.text} at ${pred}${g.rule !== undefined ? `\n    ${whenText(s.dynamic[g.rule]!, N)}` : ''}`;
      (where === 'both' ? shared : only[where]).push(line);
    }
  }
  const scales = new Map<number, number[]>();
  s.epsScale.forEach((v, k) => {
    if (v !== 1) scales.set(v, [...(scales.get(v) ?? []), k]);
  });
  const lines = [
    `use ${JSON.stringify(o.use)}`,
    '',
    ...o.comment.map((c) => `// ${c}`),
    `schedule ${o.name} for ${/^[A-Za-z_][A-Za-z0-9_]*$/.test(s.model) ? s.model : JSON.stringify(s.model)} {`,
    `  steps ${N}`,
    ...(o.sampler ? [`  sampler ${o.sampler}`] : []),
    ...[...scales].map(([v, ks]) => `  eps_scale ${v} at ${stepsPredicate(ks)}`),
    ...shared.map((l) => `  ${l}`),
    ...branches.flatMap((b) => (only[b].length ? [`  ${b} {`, ...only[b].map((l) => `    ${l.replace(/\n {4}/g, '\n      ')}`), '  }'] : [])),
    '}',
    '',
  ];
  return lines.join('\n');
}
