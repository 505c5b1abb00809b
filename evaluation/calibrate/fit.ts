/**
 * `ditto fit`: the offline measurements two cache methods need, taken on the CPU reference executor
 * from all-compute sampling runs (docs/calibrate.md "TeaCache and MagCache").
 *
 * - TeaCache: per step and CFG branch, the relative L1 change x of the rule's signal (block 0's
 *   timestep-modulated input) and y of the model's output; a least-squares polynomial y ≈ p(x)
 *   of degree 4 maps the cheap signal to the change it predicts. The result is a schedule file
 *   whose `rescale(…)` holds p's coefficients.
 * - MagCache: per step and CFG branch, the magnitude ratio γ_k of the stack's residual (the last
 *   block's output − the first block's input) to the previous step's, averaged over the samples:
 *   the curve a `when magnitude "curve.json"` rule reads, from one run.
 */
import path from 'node:path';
import { DittoError } from '../../core/errors.ts';
import { openModel } from '../../compiler/compileSource.ts';
import { loadProgram, resolveSchedule } from '../../compiler/frontend.ts';
import { nodeByPath, type Graph, type NodeId } from '../../compiler/ir/graph.ts';
import { computeEverything } from '../../compiler/ir/schedule.ts';
import { magnitudeRatio, relL1, residualOf } from '../../compiler/ir/rules.ts';
import type { SamplerKind } from '../../compiler/passes/options.ts';
import { sampleReference } from '../../runtime/reference/sample.ts';
import type { Weights } from '../../runtime/reference/forward.ts';

export interface FitRun {
  /** The model lowered for the batch the run needs (2·samples under CFG). */
  graph: Graph;
  weights: Weights;
  steps: number;
  samples: number;
  sampler: 'ddpm' | 'ddim';
  cfgScale?: number;
  seed: number;
}

type Branch = 'cond' | 'uncond';

/** Per step, the values of `nodes` split by CFG branch (cond rows first). */
function observeRun(run: FitRun, nodes: readonly NodeId[], each: (k: number, branch: Branch, values: Float32Array[]) => void): void {
  const classes = Array.from({ length: run.samples }, (_, i) => i % Math.max(1, run.graph.params.classes ?? 1));
  const branches: Branch[] = run.cfgScale !== undefined ? ['cond', 'uncond'] : ['cond'];
  sampleReference(run.graph, run.weights, computeEverything(run.graph.model, run.steps), {
    sampler: run.sampler, classes, seed: run.seed, ...(run.cfgScale !== undefined ? { cfgScale: run.cfgScale } : {}),
    observe: ({ k, values }) => {
      const full = nodes.map((id) => values.get(id)!.data as Float32Array);
      branches.forEach((b, bi) => each(k, b, full.map((v) => v.subarray((bi * v.length) / branches.length, ((bi + 1) * v.length) / branches.length))));
    },
  });
}

export interface TeacacheFit {
  /** Highest degree first (the order `rescale(…)` takes). */
  coefficients: number[];
  /** The (x, y) pairs the polynomial was fitted to. */
  points: { x: number; y: number }[];
  /** Root-mean-square residual of the fit. */
  rms: number;
}

/** TeaCache's polynomial for `signal` (a named node) against the model's output. */
export function fitTeacache(run: FitRun, signal: string, degree = 4): TeacacheFit {
  const sig = nodeByPath(run.graph, signal);
  if (!sig) throw new DittoError('E_USAGE', `--signal '${signal}' is not a named node of model ${run.graph.model}`);
  const out = run.graph.outputs[0]!.node;
  const prev = new Map<Branch, Float32Array[]>();
  const points: { x: number; y: number }[] = [];
  observeRun(run, [sig.id, out], (_k, b, [s, o]) => {
    const p = prev.get(b);
    if (p) points.push({ x: relL1(p[0]!, s!), y: relL1(p[1]!, o!) });
    prev.set(b, [s!.slice(), o!.slice()]);
  });
  if (points.length <= degree) throw new DittoError('E_USAGE', `a degree-${degree} fit needs more than ${degree} step pairs; sample more steps`);
  const coefficients = leastSquaresPolynomial(points, degree);
  const rms = Math.sqrt(points.reduce((a, { x, y }) => a + (evalPoly(coefficients, x) - y) ** 2, 0) / points.length);
  return { coefficients, points, rms };
}

function evalPoly(c: readonly number[], x: number): number {
  return c.reduce((r, v) => r * x + v, 0);
}

/** Least squares over the monomials x^degree … x^0 (normal equations in f64, Gaussian elimination
 *  with partial pivoting; x is scaled to [0, 1] first so the system stays well conditioned). */
export function leastSquaresPolynomial(points: readonly { x: number; y: number }[], degree: number): number[] {
  const scale = Math.max(...points.map((p) => Math.abs(p.x)), 1e-30);
  const n = degree + 1;
  const A = Array.from({ length: n }, () => new Float64Array(n + 1));
  for (const { x, y } of points) {
    const pw = Array.from({ length: n }, (_, j) => (x / scale) ** (degree - j));
    for (let r = 0; r < n; r++) {
      for (let c = 0; c < n; c++) A[r]![c]! += pw[r]! * pw[c]!;
      A[r]![n]! += pw[r]! * y;
    }
  }
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(A[r]![c]!) > Math.abs(A[piv]![c]!)) piv = r;
    [A[c], A[piv]] = [A[piv]!, A[c]!];
    const d = A[c]![c]!;
    if (Math.abs(d) < 1e-300) throw new DittoError('E_USAGE', 'the fit is degenerate: the signal barely changes between steps; use more samples or steps');
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = A[r]![c]! / d;
      for (let j = c; j <= n; j++) A[r]![j]! -= f * A[c]![j]!;
    }
  }
  // Undo the scaling: the coefficient of x^(degree−j) is divided by scale^(degree−j).
  return Array.from({ length: n }, (_, j) => A[j]![n]! / A[j]![j]! / scale ** (degree - j));
}

export interface MagnitudeCurveFit {
  steps: number;
  cond: number[];
  uncond?: number[];
}

/** MagCache's curve: γ_k per branch, averaged over the run's samples (γ_0 = 1). */
export function fitMagnitudeCurve(run: FitRun, group = 'blocks'): MagnitudeCurveFit {
  const blocks = run.graph.blocks.filter((b) => b.group === group).sort((a, b) => a.index - b.index);
  if (blocks.length === 0) throw new DittoError('E_USAGE', `model ${run.graph.model} has no repetition \`${group}\``);
  const width = run.graph.nodes[blocks[0]!.input]!.shape.at(-1)!;
  const prev = new Map<Branch, Float32Array>();
  const curves: Record<Branch, number[]> = { cond: [], uncond: [] };
  observeRun(run, [blocks[blocks.length - 1]!.output, blocks[0]!.input], (_k, b, [o, i]) => {
    const r = residualOf(o!, i!);
    const p = prev.get(b);
    curves[b].push(p ? magnitudeRatio(p, r, width) : 1);
    prev.set(b, r);
  });
  return { steps: run.steps, cond: curves.cond, ...(run.cfgScale !== undefined ? { uncond: curves.uncond } : {}) };
}

/** The text of a TeaCache schedule with fitted coefficients, for `model` declared in `use`. */
export function teacacheScheduleText(o: { use: string; model: string; variant?: string; name: string; steps: number; sampler: SamplerKind; signal: string; coefficients: readonly number[]; threshold: number; command: string }): string {
  const cs = o.coefficients.map((c) => Number(c.toPrecision(8)));
  const names = cs.map((_, j) => `c${cs.length - 1 - j}`);
  const modelName = /^[A-Za-z_][A-Za-z0-9_]*$/.test(o.model) ? o.model : JSON.stringify(o.model);
  return [
    `use ${JSON.stringify(o.use)}`,
    '',
    `// TeaCache with the polynomial fitted for ${o.variant ?? o.model} by:`,
    `//   ${o.command}`,
    `// rescale(${names.join(', ')}): highest degree first.`,
    `schedule ${o.name}(threshold = ${o.threshold}, ${cs.map((c, j) => `${names[j]} = ${c}`).join(', ')}) for ${modelName} {`,
    `  steps ${o.steps}`,
    // The polynomial maps one sampler's per-step changes: under another it never reaches, or never
    // leaves, its threshold (docs/calibrate.md), so the schedule says which one it was fitted under.
    `  sampler ${o.sampler}`,
    `  blocks[*] reuse residual at steps 1..S - 1`,
    `    when rel_l1(${o.signal}) rescale(${names.join(', ')}) < threshold`,
    '}',
    '',
  ].join('\n');
}

/** What a fit from source takes: the run's settings (without the lowered graph) and the model file. */
export interface FitOptions extends Omit<FitRun, 'graph'> {
  modelFile: string;
  model?: string;
  set?: Record<string, number>;
  /** teacache: the signal node (default blocks[0].msa_in) and the written schedule's threshold (default 0.3). */
  signal?: string;
  threshold?: number;
  /** Where the result will be written (a schedule's `use` is relative to it). */
  outputFile: string;
  /** The command, for the written file's comment. */
  command: string;
}

/** `ditto fit` from a model file: the file's text and a one-line summary. A TeaCache schedule is
 *  loaded and checked before it is returned. */
export function fitFromSource(method: 'teacache' | 'magcache', o: FitOptions): { text: string; summary: string } {
  const { graph } = openModel(o.modelFile, { model: o.model, set: o.set, batch: o.samples, cfg: o.cfgScale !== undefined });
  const run: FitRun = { graph, weights: o.weights, steps: o.steps, samples: o.samples, sampler: o.sampler, seed: o.seed, ...(o.cfgScale !== undefined ? { cfgScale: o.cfgScale } : {}) };
  if (method === 'magcache') {
    const curve = fitMagnitudeCurve(run);
    const round = (xs: number[]) => xs.map((x) => Number(x.toPrecision(6)));
    return {
      // `sampler` records what the ratios were measured under; the schedule reads only the curves (a
      // DDPM curve serves DDIM well: docs/experiment-fmnist), so it is provenance, not a constraint.
      text: JSON.stringify({ steps: curve.steps, sampler: o.sampler, cond: round(curve.cond), ...(curve.uncond ? { uncond: round(curve.uncond) } : {}), command: o.command }) + '\n',
      summary: `magnitude ratios of ${o.model ?? graph.model}'s residual at ${o.steps} steps, ${o.sampler}${curve.uncond ? ' (cond and uncond)' : ''}\ncond: ${round(curve.cond).join(' ')}`,
    };
  }
  const signal = o.signal ?? 'blocks[0].msa_in';
  const fit = fitTeacache(run, signal);
  const use = path.relative(path.dirname(path.resolve(o.outputFile)), path.resolve(o.modelFile)).split(path.sep).join('/');
  const name = `teacache_${(o.model ?? graph.model).replace(/[^A-Za-z0-9_]/g, '_').toLowerCase()}`;
  const text = teacacheScheduleText({ use, model: graph.model, ...(o.model !== undefined ? { variant: o.model } : {}), name, steps: o.steps, sampler: o.sampler, signal, coefficients: fit.coefficients, threshold: o.threshold ?? 0.3, command: o.command });
  const where = path.resolve(o.outputFile);
  const back = resolveSchedule(loadProgram(where, { inline: new Map([[where, text]]) }), name, graph, { sampler: o.sampler });
  if (back.dynamic.length !== 1) throw new DittoError('E_INTERNAL', 'the written TeaCache schedule has no dynamic rule');
  return { text, summary: `(schedule ${name}): rescale(${fit.coefficients.map((c) => c.toPrecision(6)).join(', ')}), ${fit.points.length} step pairs, rms ${fit.rms.toPrecision(3)}` };
}
