/**
 * One sampling trajectory of the calibration, on the CPU reference executor: the latent x_t at
 * step k, the attention / MLP caches as the decisions taken so far left them, and the ability to
 * evaluate the model at the current x_t under any cache state without committing to it.
 *
 * The cache semantics are the reference executor's (runtime/reference/sample.ts, DESIGN §4): a
 * cached node holds its ungated output from the last step that computed it; a reused node's value
 * is that stored output (re-gated downstream by the current step's adaLN gate), and what only
 * feeds reused nodes is never evaluated. A test checks that following a calibrated table here gives
 * bit-identical latents to sampleReference on the emitted schedule.
 */
import { DittoError, invariant } from '../../core/errors.ts';
import { intTensor, tensor, type Tensor } from '../../core/tensor.ts';
import { nodeByPath, type Graph, type NodeId } from '../../compiler/ir/graph.ts';
import { Evaluation, type Intercept, type Weights } from '../../runtime/reference/forward.ts';
import { makeDiffusion, type Diffusion } from '../../core/diffusion.ts';
import { ddimStep, ddpmStep, type VarianceKind } from '../../runtime/sampler/steps.ts';
import { epsFromModelOutput, type GuideChannels } from '../../runtime/sampler/guidance.ts';
import { noiseForRun, type RunNoise } from '../../runtime/sampler/noise.ts';
import type { CacheState } from './states.ts';

/** The attention and MLP nodes a code table drives: one repetition's `attn` and `mlp` per block. */
export interface TableTargets {
  /** The repetition's name (`blocks`): the emitted schedule maps `attn = blocks[*].attn`, … */
  group: string;
  attn: NodeId[];
  mlp: NodeId[];
}

/** The first repetition whose every instance has `attn` and `mlp` nodes (what a code table drives by default). */
export function tableTargets(graph: Graph): TableTargets {
  const groups = [...new Set(graph.blocks.map((b) => b.group))];
  for (const group of groups) {
    const inst = graph.blocks.filter((b) => b.group === group);
    const attn = inst.map((b) => nodeByPath(graph, `${b.path}.attn`)?.id);
    const mlp = inst.map((b) => nodeByPath(graph, `${b.path}.mlp`)?.id);
    if (attn.every((a) => a !== undefined) && mlp.every((m) => m !== undefined)) {
      return { group, attn: attn as NodeId[], mlp: mlp as NodeId[] };
    }
  }
  throw new DittoError('E_USAGE', `model ${graph.model} has no repetition with \`attn\` and \`mlp\` nodes, so there is nothing a cache table could drive`);
}

export interface TrajectorySetup {
  /** The model lowered for batch B (no CFG) or 2B ([cond; uncond] under CFG). */
  graph: Graph;
  weights: Weights;
  steps: number;
  sampler: 'ddpm' | 'ddim';
  cfgScale?: number;
  guide?: GuideChannels;
  /** Class id of each of the B calibration samples. */
  classes: readonly number[];
  /** Initial latent and per-step noise of the B samples. */
  noise: RunNoise;
  /** Per sampling step: the eps multiplier the emitted schedule applies (1 without eps_scale). */
  epsScale: readonly number[];
}

/** What one evaluation under a state produced. */
export interface StateEvaluation {
  state: CacheState;
  /** Guided eps, [B, C, H, W], without the eps scale (the scale multiplies every candidate alike). */
  eps: Float32Array;
  /** Per-sample L2 norm of `eps`. */
  norms: Float64Array;
  /** Guided eps with the step's eps scale and the variance channels: what the sampler update uses. */
  stepEps: Float32Array;
  v?: Float32Array;
  /** Target nodes this evaluation computed (their new cache contents if this state is chosen). */
  computed: Map<NodeId, Float32Array>;
}

/** The frozen, per-run facts shared by every trajectory of one calibration. */
export class TrajectoryModel {
  readonly diffusion: Diffusion;
  readonly targets: TableTargets;
  readonly B: number;
  readonly C: number;
  readonly H: number;
  readonly W: number;
  readonly N: number;
  readonly variance: VarianceKind;
  readonly y: Tensor;
  readonly outNode: NodeId;
  private readonly attnSet: Set<NodeId>;
  private readonly mlpSet: Set<NodeId>;
  readonly intercepted: Set<NodeId>;
  /** Model evaluations run so far, all trajectories together (for the summary). */
  evaluations = 0;

  constructor(readonly setup: TrajectorySetup) {
    const { graph, classes, steps } = setup;
    const cfg = setup.cfgScale !== undefined;
    this.B = classes.length;
    this.N = cfg ? 2 * this.B : this.B;
    invariant(this.B > 0 && graph.batch === this.N, `calibration graph batch ${graph.batch} does not fit ${this.B} samples${cfg ? ' with CFG' : ''}`);
    const xIn = graph.inputs.find((i) => i.name === 'x');
    if (!xIn || !graph.inputs.some((i) => i.name === 't') || !graph.inputs.some((i) => i.name === 'y')) {
      throw new DittoError('E_USAGE', `model ${graph.model} does not take inputs x, t and y, so it cannot be sampled as a class-conditional DiT`);
    }
    [, this.C, this.H, this.W] = graph.nodes[xIn.node]!.shape as [number, number, number, number];
    const outRef = graph.outputs.find((o) => o.name === 'out') ?? graph.outputs[0];
    invariant(outRef !== undefined, `model ${graph.model} has no output`);
    this.outNode = outRef.node;
    this.variance = graph.nodes[outRef.node]!.shape[1] === 2 * this.C ? 'learned_range' : 'fixed_large';
    this.diffusion = makeDiffusion(steps);
    this.targets = tableTargets(graph);
    this.attnSet = new Set(this.targets.attn);
    this.mlpSet = new Set(this.targets.mlp);
    this.intercepted = new Set([...this.attnSet, ...this.mlpSet]);
    // The null (unconditional) class is the last row of the label table, as in sampleReference.
    const nullClass = graph.params.classes ?? graph.nodes.find((n) => n.op.kind === 'embedding')!.shape[1]! - 1;
    this.y = intTensor([this.N], cfg ? [...classes, ...classes.map(() => nullClass)] : [...classes]);
    invariant(setup.epsScale.length === steps && setup.noise.steps.length >= steps, 'calibration setup: eps scales or noise do not cover every step');
  }

  /** Does state `s` reuse node `id`? */
  reuses(s: CacheState, id: NodeId): boolean {
    if (this.attnSet.has(id)) return s === 1 || s === 2;
    if (this.mlpSet.has(id)) return s === 2 || s === 3;
    return false;
  }
}

export function defaultNoise(seed: number, model: { B: number; C: number; H: number; W: number }, steps: number): RunNoise {
  return noiseForRun(seed, model.B, [model.C, model.H, model.W], steps);
}

/** A trajectory: x_t and the caches at step k after the decisions `decisions[0..k)`. */
export class Trajectory {
  k = 0;
  readonly decisions: CacheState[] = [];
  x: Float32Array;
  private readonly cache = new Map<NodeId, Float32Array>();
  /** Evaluations already made at the current step (kept so that advancing costs nothing extra). */
  private pending = new Map<CacheState, StateEvaluation>();

  constructor(private readonly m: TrajectoryModel) {
    this.x = new Float32Array(m.setup.noise.initial.data);
  }

  /** Evaluates the model at the current x_t under `state`, from the current caches; commits nothing. */
  evaluate(state: CacheState): StateEvaluation {
    const known = this.pending.get(state);
    if (known) return known;
    const m = this.m;
    const { setup } = m;
    invariant(this.k < setup.steps, `calibration trajectory is already at its end (${setup.steps} steps)`);
    if (this.k === 0 && state !== 0) throw new DittoError('E_INTERNAL', 'the first step of a calibration must compute');
    const i = setup.steps - 1 - this.k;
    const computed = new Map<NodeId, Float32Array>();
    const intercept: Intercept = (node, compute) => {
      if (m.reuses(state, node.id)) {
        const stored = this.cache.get(node.id);
        invariant(stored !== undefined, `${node.path} is reused at step ${this.k} before it was computed`);
        return tensor(node.shape, stored);
      }
      const v = compute();
      computed.set(node.id, v.data as Float32Array);
      return v;
    };
    const xin = new Float32Array(m.N * m.C * m.H * m.W);
    xin.set(this.x);
    if (m.N !== m.B) xin.set(this.x, this.x.length);
    const t = new Float32Array(m.N).fill(m.diffusion.timesteps[i]!);
    const ev = new Evaluation(setup.graph, setup.weights, { x: tensor([m.N, m.C, m.H, m.W], xin), t: tensor([m.N], t), y: m.y }, m.intercepted, intercept);
    const out = ev.value(m.outNode);
    m.evaluations++;
    const guide = { channels: m.C, cfgScale: setup.cfgScale, guide: setup.guide };
    const { eps } = epsFromModelOutput(out, { ...guide, epsScale: 1 });
    const scaled = epsFromModelOutput(out, { ...guide, epsScale: setup.epsScale[this.k] });
    const per = eps.length / m.B;
    const norms = new Float64Array(m.B);
    for (let b = 0; b < m.B; b++) {
      let s = 0;
      for (let e = b * per; e < (b + 1) * per; e++) s += eps[e]! * eps[e]!;
      norms[b] = Math.sqrt(s);
    }
    if (!norms.every(Number.isFinite)) {
      throw new DittoError('E_NUMERIC', `the model's predicted noise is not finite at sampling step ${this.k} (state ${state}); check the weights`);
    }
    const r: StateEvaluation = { state, eps, norms, stepEps: scaled.eps, ...(scaled.v ? { v: scaled.v } : {}), computed };
    this.pending.set(state, r);
    return r;
  }

  /** Takes the sampler step of the current step under `state`: caches refresh, x_t advances. */
  advance(state: CacheState): void {
    const r = this.evaluate(state);
    for (const [id, v] of r.computed) this.cache.set(id, v);
    const { setup, diffusion, variance } = this.m;
    const i = setup.steps - 1 - this.k;
    this.x =
      setup.sampler === 'ddim'
        ? ddimStep(diffusion, i, this.x, r.stepEps)
        : ddpmStep(diffusion, i, this.x, r.stepEps, r.v, setup.noise.steps[this.k]!.data as Float32Array, variance);
    this.decisions.push(state);
    this.k++;
    this.pending = new Map();
  }
}
