/**
 * A partial compute (`compute tokens(…)`, state `partial`) in one CFG half: gather the chosen token
 * rows of the cone's boundary inputs, run the target's token-wise cone (compiler/ir/tokenCone.ts)
 * on those rows only — the same instructions as a full compute, on [samples, chosen, ·] — and
 * scatter the result into the target's cache slot, whose other rows hold each token's value from
 * its own last compute. The slot is then the target's value (compiler/ir/rules.ts `mergeTokens`).
 */
import type { Node, NodeId } from '../ir/graph.ts';
import type { Branch, TargetInfo, TargetStep } from './ir.ts';
import { type BodyBuilder, outView, type Range, slotName } from './lowerBody.ts';
import { copyHalf } from './lowerCache.ts';
import { emitNode } from './lowerOps.ts';

export function partialCompute(b: BodyBuilder, info: TargetInfo, n: Node, R: Range, value: string, ts: TargetStep, tag: { branch?: Branch }, direct: boolean): void {
  const { graph, io } = b.ctx;
  const cone = info.cone!;
  const chosen = ts.tokens!;
  const T = cone.tokens;
  const packedShape = (m: Node) => [io.modelBatch, chosen.length, m.shape[2]!];
  // The cone's nodes (and its gathered inputs) are bound to their packed rows while it is emitted.
  const saved = new Map<NodeId, string | undefined>();
  const bindPacked = (id: NodeId, v: string) => {
    if (!saved.has(id)) saved.set(id, b.valueOf.get(id));
    b.valueOf.set(id, v);
  };
  const rows = `${chosen.length} of ${T} token rows`;
  // What attention reads for every token (its qkv), bound before any gathered value replaces it.
  const fullRows = new Map(cone.full.map((id) => [id, b.rows(id, R)]));
  for (const id of cone.gathered) {
    const m = graph.nodes[id]!;
    const src = b.at(id, R);
    const packed = b.temp(packedShape(m));
    b.emit({
      op: { kind: 'token_rows', mode: 'gather', samples: R.count, tokens: T, dim: m.shape[2]!, indices: [...chosen] },
      ins: [src], outs: [outView(b, packed, R)], covers: [], role: 'model', ...tag, note: `gather ${rows} for ${info.path}`,
    });
    bindPacked(id, packed);
  }
  let result = '';
  for (const id of cone.nodes) {
    const m = graph.nodes[id]!;
    const shape = packedShape(m);
    result = b.temp(shape);
    bindPacked(id, result);
    if (m.op.kind === 'attention') {
      // The chosen queries against the keys and values of every token.
      const heads = m.op.heads;
      b.emit({
        op: { kind: 'attention', batch: R.count, tokens: T, heads, headDim: m.shape[2]! / heads, queries: [...chosen] },
        ins: [fullRows.get(m.inputs[0]!)!], outs: [outView(b, result, R)], covers: [id], role: 'model', ...tag, note: `attention of ${rows} against all ${T}`,
      });
      continue;
    }
    emitNode(b, { ...m, shape }, R, result, 'model', tag);
  }
  const slot = slotName(b.ctx, info, n);
  b.emit({
    op: { kind: 'token_rows', mode: 'scatter', samples: R.count, tokens: T, dim: n.shape[2]!, indices: [...chosen] },
    ins: [outView(b, result, R)], outs: [outView(b, slot, R)], covers: [n.id], role: 'cache_write', ...tag, note: `${info.path}: ${rows} computed, the rest reused`,
  });
  for (const [id, v] of saved) {
    if (v === undefined) b.valueOf.delete(id);
    else b.valueOf.set(id, v);
  }
  if (!direct) copyHalf(b, slot, value, n, R, 'reuse', tag);
}
