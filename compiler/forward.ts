/**
 * Forward mode: Graph IR → a plan that runs the model once on inputs the runtime writes and reads
 * its outputs back (no sampler, no schedule, no steps). The same passes as sampling where they
 * apply — `lower-forward` (compiler/passes/lowerForward.ts) instead of specialise / dead-code /
 * hoist / lower, then `fuse`, `tile-image` (compiler/passes/tileImage.ts) and `memory` — the verifier after each, and `dumpAfter`. Used by
 * `ditto forward --device gpu` and by the VAE decode of `ditto run --vae`. docs/plan.md describes
 * the plan (mode 'forward').
 */
import { DittoError } from '../core/errors.ts';
import type { Graph } from './ir/graph.ts';
import type { Body, ValueInfo } from './passes/ir.ts';
import { instrLine } from './passes/dump.ts';
import { fuseBody } from './passes/fuse.ts';
import { lowerForward, type LoweredForward } from './passes/lowerForward.ts';
import { planBody } from './passes/memory.ts';
import { tileImageBody } from './passes/tileImage.ts';
import { normaliseOptions, type CompileOptions } from './passes/options.ts';
import { verifyBody } from './passes/verify.ts';
import { buildForwardPlan } from './plan/buildForward.ts';
import type { CompileCaps } from './plan/caps.ts';
import type { ForwardPlan } from './plan/types.ts';

export interface ForwardOptionsInput {
  /** Adapter profile (default: the generic hardware one). */
  caps?: CompileCaps;
  /** f16 weight storage (needs shader-f16; not for models with image ops, whose families read f32 weights). */
  f16?: boolean;
  /** Name of a pass whose IR to dump (FORWARD_PASS_NAMES). */
  dumpAfter?: string;
}

export interface ForwardState {
  graph: Graph;
  opts: CompileOptions;
  lowered?: LoweredForward;
  values?: Map<string, ValueInfo>;
  body?: Body;
  /** Byte sizes of the pooled activation buffers. */
  pool?: number[];
}

interface ForwardPass {
  name: string;
  what: string;
  run(s: ForwardState): void;
}

const PASSES: readonly ForwardPass[] = [
  {
    name: 'lower-forward',
    what: 'one instruction per node an output needs; inputs and outputs as runtime buffers',
    run: (s) => {
      s.lowered = lowerForward(s.graph, s.opts);
      s.values = s.lowered.values;
      s.body = s.lowered.body;
    },
  },
  {
    name: 'fuse',
    what: 'image-op epilogues (upsample→conv, norm+SiLU, tokens, residual, concat in place), matmul epilogues, elementwise chains',
    run: (s) => {
      s.body = fuseBody(s.body!, { graph: s.graph, values: s.values!, caps: s.opts.caps, f16: s.opts.f16 });
    },
  },
  {
    name: 'tile-image',
    what: 'image ops over channel ranges where a tensor exceeds the adapter\'s storage binding size',
    run: (s) => {
      s.body = tileImageBody(s.body!, { values: s.values!, caps: s.opts.caps });
    },
  },
  {
    name: 'memory',
    what: 'activation buffers by liveness',
    run: (s) => {
      s.pool = [];
      s.body = planBody(s.body!, s.values!, s.pool);
    },
  },
];

export const FORWARD_PASS_NAMES: readonly string[] = PASSES.map((p) => p.name);

export interface ForwardCompileResult {
  plan: ForwardPlan;
  dump?: string;
  timings: Record<string, number>;
}

const IMAGE_OPS = new Set(['conv2d', 'group_norm', 'upsample_nearest', 'to_tokens', 'to_image', 'concat']);

export function normaliseForwardOptions(graph: Graph, o: ForwardOptionsInput): CompileOptions {
  if (o.dumpAfter !== undefined && !FORWARD_PASS_NAMES.includes(o.dumpAfter)) {
    throw new DittoError('E_USAGE', `--dump-after: forward plans have no pass named '${o.dumpAfter}'; passes are ${FORWARD_PASS_NAMES.join(', ')}`);
  }
  if (o.f16 && graph.nodes.some((n) => IMAGE_OPS.has(n.op.kind))) {
    throw new DittoError('E_USAGE', `--f16 is not available for model ${graph.model}: its conv2d / group_norm kernels read f32 weights`);
  }
  // Forward mode has one "step" and no sampler; the sampling fields are fixed and unused.
  return normaliseOptions({ steps: 1, sampler: 'ddim', batch: graph.batch, ...(o.caps ? { caps: o.caps } : {}), ...(o.f16 !== undefined ? { f16: o.f16 } : {}), ...(o.dumpAfter !== undefined ? { dumpAfter: o.dumpAfter } : {}) });
}

/** Compiles one forward pass of `graph` (lowered for the batch the runtime will feed). */
export function compileForward(graph: Graph, options: ForwardOptionsInput = {}): ForwardCompileResult {
  const opts = normaliseForwardOptions(graph, options);
  const s: ForwardState = { graph, opts };
  const timings: Record<string, number> = {};
  let dump: string | undefined;
  for (const p of PASSES) {
    const t0 = performance.now();
    p.run(s);
    verifyBody(p.name, 'body', s.body!, s.values!, opts.caps.maxStorageBuffersPerShaderStage);
    timings[p.name] = (performance.now() - t0) / 1000;
    if (p.name === opts.dumpAfter) dump = `;; IR after pass '${p.name}' (${p.what})\n${dumpForwardBody(s.body!)}`;
  }
  const t0 = performance.now();
  const plan = buildForwardPlan(s);
  timings['plan'] = (performance.now() - t0) / 1000;
  return { plan, ...(dump !== undefined ? { dump } : {}), timings };
}

function dumpForwardBody(b: Body): string {
  return [`forward body (${b.instrs.length} instructions)`, ...b.instrs.map((ins, n) => `  %${n} ${instrLine(ins, b.buffers)}`)].join('\n') + '\n';
}
