/**
 * The token-wise cone of a target: the nodes a partial compute (`compute tokens(…)`) runs on the
 * chosen token rows only. Walking back from the target [N, T, D], a node joins when each of its
 * output rows depends only on the same token row of its inputs (linear, layernorm, modulate,
 * elementwise functions and arithmetic), it has the target's T tokens, and everything that reads
 * it is in the cone. What the cone reads from outside is its boundary: token rows [N, T, ·]
 * (gathered to the chosen rows) and per-sample values [N, ·] (broadcast over the gathered rows, as
 * over all of them). For DiT's `blocks[i].mlp` the cone is layernorm → modulate → fc1 → GELU → fc2
 * and its boundary the block's h and the MLP's shift and scale.
 *
 * The reference executor needs no cone (it computes every row and keeps the chosen ones,
 * compiler/ir/rules.ts `mergeTokens`); the check uses it to refuse targets that are not token-wise,
 * so both sides accept the same schedules.
 */
import type { Graph, Node, NodeId } from './graph.ts';

export interface TokenCone {
  /** Token rows per sample (T). */
  tokens: number;
  /** The cone's nodes in graph order; the last is the target. */
  nodes: NodeId[];
  /** Boundary inputs with token rows: gathered to the chosen rows. */
  gathered: NodeId[];
  /** Every boundary input (gathered, per-sample, constants): what the cone needs computed. */
  inputs: NodeId[];
}

const TOKEN_WISE = new Set(['linear', 'layernorm', 'modulate', 'unary', 'binary']);

/** The cone of `target`, or why a partial compute of it is not possible. */
export function tokenCone(graph: Graph, target: NodeId): TokenCone | string {
  const n = graph.nodes[target]!;
  const N = graph.batch;
  if (n.shape.length !== 3 || n.shape[0] !== N) return `it is ${describe(n)}, not token rows [batch, tokens, width]`;
  const T = n.shape[1]!;
  const tokenRows = (m: Node) => m.shape.length === 3 && m.shape[0] === N && m.shape[1] === T;
  const perSample = (m: Node) => m.shape.length === 2 && m.shape[0] === N;
  const fits = (m: Node) =>
    TOKEN_WISE.has(m.op.kind) && tokenRows(m) &&
    m.inputs.every((i) => {
      const x = graph.nodes[i]!;
      return x.op.kind === 'const' || tokenRows(x) || (perSample(x) && (m.op.kind === 'modulate' || (m.op.kind === 'binary' && m.op.broadcast === 'per_sample')));
    });
  if (!fits(n)) return `it is computed by ${n.op.kind === 'attention' || n.inputs.some((i) => graph.nodes[i]!.op.kind === 'attention') ? 'attention, which mixes tokens' : `${n.op.kind}, which is not token-wise`}`;
  const consumers = new Map<NodeId, NodeId[]>();
  for (const m of graph.nodes) for (const i of m.inputs) consumers.set(i, [...(consumers.get(i) ?? []), m.id]);
  const outputs = new Set(graph.outputs.map((o) => o.node));
  const cone = new Set<NodeId>([target]);
  const needed = new Set<NodeId>(n.inputs);
  for (let id = target - 1; id >= 0; id--) {
    if (!needed.has(id)) continue;
    const m = graph.nodes[id]!;
    if (fits(m) && !outputs.has(id) && (consumers.get(id) ?? []).every((c) => cone.has(c))) {
      cone.add(id);
      for (const i of m.inputs) needed.add(i);
    }
  }
  const nodes = [...cone].sort((a, b) => a - b);
  const inputs = [...needed].filter((id) => !cone.has(id)).sort((a, b) => a - b);
  return { tokens: T, nodes, gathered: inputs.filter((id) => tokenRows(graph.nodes[id]!)), inputs };
}

function describe(n: Node): string {
  return `[${n.shape.join(', ')}]`;
}
