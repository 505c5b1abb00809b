/**
 * Which schedule targets a step needs at all, as the reference executor decides it
 * (runtime/reference/forward.ts evaluates on demand, from the model output and the dynamic rules'
 * signals). A target the schedule computes at a step where nothing live reads it — a block under a
 * reused model output — is not evaluated there by the reference, so its cache and forecast history
 * keep their older values; specialise drops such a compute (no work, no store, no history refresh).
 *
 * The reference evaluates the whole batch at once: a node is demanded when either CFG branch needs
 * it, and a demanded target then applies each branch's own action. So liveness here is one walk over
 * the union of both branches' needs, not two per-branch walks (those are dead-code's job).
 */
import type { Graph, NodeId } from '../ir/graph.ts';
import type { TargetInfo, TargetStep } from './ir.ts';

/** A target's action at one step in both branches, with a dynamic action already resolved. */
export type StepAction = TargetStep['action'];

/** One flag per graph node: 1 where the reference evaluates it at this step. */
export function liveNodes(graph: Graph, actions: ReadonlyMap<NodeId, { info: TargetInfo; cond: StepAction; uncond: StepAction }>, keep: readonly NodeId[]): Uint8Array {
  const live = new Uint8Array(graph.nodes.length);
  for (const o of graph.outputs) live[o.node] = 1;
  for (const id of keep) live[id] = 1;
  // Node ids are in topological order: every consumer comes after its inputs.
  for (let id = graph.nodes.length - 1; id >= 0; id--) {
    if (!live[id]) continue;
    const t = actions.get(id);
    // A block target always reads its input (the stored residual is added to it).
    if (t?.info.blockInput !== undefined) live[t.info.blockInput] = 1;
    const computes = (a: StepAction) => a === 'compute' || a === 'tokens';
    if (t && !computes(t.cond) && !computes(t.uncond)) continue;
    for (const i of graph.nodes[id]!.inputs) live[i] = 1;
  }
  return live;
}
