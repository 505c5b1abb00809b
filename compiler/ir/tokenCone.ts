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
 * Attention joins too, by its queries: an output row is its query row against the keys and values
 * of every token, so the cone runs attention for the chosen queries only and reads its fused qkv
 * in full (`full`: computed for every token at this step, not gathered). For `blocks[i].attn` the
 * cone is attention → proj and its boundary the block's qkv.
 *
 * The reference executor needs no cone (it computes every row and keeps the chosen ones,
 * compiler/ir/rules.ts `mergeTokens`); the check uses it to refuse targets that are not token-wise,
 * so both sides accept the same schedules.
 */
import type { Graph, Node, NodeId } from './graph.ts';
import { OP_TABLE } from './ops.ts';

export interface TokenCone {
  /** Token rows per sample (T). */
  tokens: number;
  /** The cone's nodes in graph order; the last is the target. */
  nodes: NodeId[];
  /** Boundary inputs with token rows: gathered to the chosen rows. */
  gathered: NodeId[];
  /** Boundary inputs read for every token (an attention's qkv: the keys and values of all tokens). */
  full: NodeId[];
  /** Every boundary input (gathered, per-sample, constants): what the cone needs computed. */
  inputs: NodeId[];
}

/** How the op table says an op runs under a partial compute (compiler/ir/ops.ts `partial`). */
function partialMode(m: Node): 'rows' | 'queries' | undefined {
  return m.op.kind === 'input' || m.op.kind === 'const' ? undefined : OP_TABLE[m.op.kind].partial;
}

/** The cone of `target`, or why a partial compute of it is not possible. */
export function tokenCone(graph: Graph, target: NodeId): TokenCone | string {
  const n = graph.nodes[target]!;
  const N = graph.batch;
  if (n.shape.length !== 3 || n.shape[0] !== N) return `it is ${describe(n)}, not token rows [batch, tokens, width]`;
  const T = n.shape[1]!;
  const tokenRows = (m: Node) => m.shape.length === 3 && m.shape[0] === N && m.shape[1] === T;
  const perSample = (m: Node) => m.shape.length === 2 && m.shape[0] === N;
  const attention = (m: Node) => partialMode(m) === 'queries' && tokenRows(m) && tokenRows(graph.nodes[m.inputs[0]!]!);
  const fits = (m: Node) =>
    attention(m) ||
    partialMode(m) === 'rows' && tokenRows(m) &&
    m.inputs.every((i) => {
      const x = graph.nodes[i]!;
      return x.op.kind === 'const' || tokenRows(x) || (perSample(x) && (m.op.kind === 'modulate' || (m.op.kind === 'binary' && m.op.broadcast === 'per_sample')));
    });
  if (!fits(n)) return `it is computed by ${n.op.kind}, which is not token-wise`;
  const consumers = new Map<NodeId, NodeId[]>();
  for (const m of graph.nodes) for (const i of m.inputs) consumers.set(i, [...(consumers.get(i) ?? []), m.id]);
  const outputs = new Set(graph.outputs.map((o) => o.node));
  const cone = new Set<NodeId>([target]);
  const needed = new Set<NodeId>();
  /** Read in full: an attention's qkv never joins the cone. */
  const full = new Set<NodeId>();
  const join = (m: Node) => {
    for (const i of m.inputs) (attention(m) ? full : needed).add(i);
  };
  join(n);
  for (let id = target - 1; id >= 0; id--) {
    if (!needed.has(id)) continue;
    const m = graph.nodes[id]!;
    if (!full.has(id) && fits(m) && !outputs.has(id) && (consumers.get(id) ?? []).every((c) => cone.has(c))) {
      cone.add(id);
      join(m);
    }
  }
  const nodes = [...cone].sort((a, b) => a - b);
  const inputs = [...new Set([...needed, ...full])].filter((id) => !cone.has(id)).sort((a, b) => a - b);
  return { tokens: T, nodes, gathered: inputs.filter((id) => needed.has(id) && tokenRows(graph.nodes[id]!)), full: [...full].sort((a, b) => a - b), inputs };
}

function describe(n: Node): string {
  return `[${n.shape.join(', ')}]`;
}
