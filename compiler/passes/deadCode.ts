/**
 * Pass `dead-code`: per step and CFG branch, the state of every graph node. Walking back from the
 * outputs, a reused or forecast node needs none of its inputs, a residual-reused block needs only
 * its input, and whatever is reached by nothing is dead at that step — at a FORA reuse step that is
 * every block's attention and MLP, leaving adaLN, the embeddings and the final layer. A target
 * computed on some tokens is `partial`: it needs its token-wise cone's boundary, and the cone's
 * nodes are dead (lowering runs them on the chosen rows, compiler/passes/lowerTokens.ts). A target
 * the schedule computes at this step stays live: specialise kept only computes the reference executor
 * evaluates (compiler/passes/liveTargets.ts), which, evaluating the whole batch, also computes a
 * branch that only the other CFG branch's work demands.
 */
import type { Graph, NodeId } from '../ir/graph.ts';
import { BRANCHES, type Branch, type NodeState, type StepSpec, type TargetInfo } from './ir.ts';
import type { Specialised } from './specialise.ts';

export function eliminateDeadCode(graph: Graph, sp: Specialised): StepSpec[] {
  // Dynamic-rule signals are measured at every step, so they stay live at every step.
  const keep = sp.dynamic.flatMap((d) => [...d.nodes, ...(d.output !== undefined ? [d.output] : [])]);
  const withStates = (step: StepSpec): StepSpec => {
    const states = {} as Record<Branch, NodeState[]>;
    for (const b of BRANCHES) states[b] = branchStates(graph, sp.targets, step, b, keep);
    const split = states.cond.some((s, i) => s !== states.uncond[i]);
    return { ...step, states, split };
  };
  return sp.steps.map((step) => {
    const out = withStates(step);
    // A dynamic step: the reuse world gets its own states.
    if (step.dynamic) out.dynamic = { rule: step.dynamic.rule, reuse: withStates(step.dynamic.reuse) };
    return out;
  });
}

function branchStates(graph: Graph, targets: Map<string, TargetInfo>, step: StepSpec, branch: Branch, keep: readonly NodeId[]): NodeState[] {
  const n = graph.nodes.length;
  /** What provides a node's value at this step when it is not computed. */
  const provided = new Map<NodeId, { state: NodeState; needs: NodeId[] }>();
  const live = new Uint8Array(n);
  for (const o of graph.outputs) live[o.node] = 1;
  for (const id of keep) live[id] = 1;
  for (const t of step.targets[branch]) {
    const info = targets.get(t.target)!;
    if (t.action === 'compute') {
      live[info.node] = 1;
      if (t.storeResidual) live[info.blockInput!] = 1; // the residual store reads the input
    } else if (t.action === 'tokens') provided.set(info.node, { state: 'partial', needs: info.cone!.inputs });
    // `cfg_cache`: the unconditional half is the conditional half plus stored bands; nothing above
    // the output runs for it, which is what halves the step.
    else if (t.action === 'cfg_cache') provided.set(info.node, { state: 'bands', needs: [] });
    else if (t.action === 'reuse_residual') provided.set(info.node, { state: 'residual', needs: [info.blockInput!] });
    else provided.set(info.node, { state: t.action === 'reuse' ? 'reuse' : 'forecast', needs: [] });
  }
  const states: NodeState[] = new Array(n).fill('dead');
  for (let id = n - 1; id >= 0; id--) {
    if (!live[id]) continue;
    const p = provided.get(id);
    if (p) {
      states[id] = p.state;
      for (const i of p.needs) live[i] = 1;
      continue;
    }
    states[id] = 'compute';
    for (const i of graph.nodes[id]!.inputs) live[i] = 1;
  }
  return states;
}
