/**
 * Pass `hoist`: work that depends on neither the latent x nor the timestep t is the same at every
 * step of a sampling run (for DiT: the position embedding and the label embedding) and runs once,
 * in the plan's prologue, into a persistent buffer. Constants stay inline in expressions and the
 * label input y is uploaded once by the runtime.
 */
import type { Graph, NodeId } from '../ir/graph.ts';
import type { StepSpec } from './ir.ts';

/** Names of the model inputs that change every step. */
export const STEP_INPUTS = new Set(['x', 't']);

export interface Hoisted {
  steps: StepSpec[];
  /** Nodes computed once per run, in topological order. */
  prologue: NodeId[];
}

export function stepVariant(graph: Graph): Uint8Array {
  const v = new Uint8Array(graph.nodes.length);
  for (const n of graph.nodes) {
    if (n.op.kind === 'input') v[n.id] = STEP_INPUTS.has(n.op.name) ? 1 : 0;
    else v[n.id] = n.inputs.some((i) => v[i]) ? 1 : 0;
  }
  return v;
}

export function hoistInvariants(graph: Graph, steps: StepSpec[]): Hoisted {
  const variant = stepVariant(graph);
  const hoistable = (id: NodeId) => !variant[id] && graph.nodes[id]!.op.kind !== 'input' && graph.nodes[id]!.op.kind !== 'const';
  const used = new Uint8Array(graph.nodes.length);
  const hoist = (s: StepSpec): StepSpec => {
    const states = { cond: [...s.states!.cond], uncond: [...s.states!.uncond] };
    for (const b of ['cond', 'uncond'] as const) {
      const st = states[b];
      for (let id = 0; id < st.length; id++) {
        if (st[id] === 'compute' && hoistable(id)) {
          st[id] = 'hoisted';
          used[id] = 1;
        }
      }
    }
    return { ...s, states };
  };
  const out = steps.map((s) => {
    const h = hoist(s);
    if (s.dynamic) h.dynamic = { rule: s.dynamic.rule, reuse: hoist(s.dynamic.reuse) };
    return h;
  });
  const prologue: NodeId[] = [];
  for (let id = 0; id < used.length; id++) if (used[id]) prologue.push(id);
  return { steps: out, prologue };
}
