/**
 * The op table (compiler/ir/ops.ts) is what the other layers follow: the language's operators are
 * its calls, GraphBuilder's shapes are its rules, and the instructions the lowering emits for a
 * node are of the kernel families its entry declares — checked on the shipped DiT and VAE.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openModel, scheduleFor } from '../../compiler/compileSource.ts';
import type { Graph } from '../../compiler/ir/graph.ts';
import { OP_TABLE, OPS } from '../../compiler/ir/ops.ts';
import type { Instr } from '../../compiler/passes/ir.ts';
import { lowerForward } from '../../compiler/passes/lowerForward.ts';
import { normaliseOptions } from '../../compiler/passes/options.ts';
import { runPasses } from '../../compiler/pipeline.ts';
import { LAVAPIPE_CAPS } from '../../compiler/plan/caps.ts';

/** Every (op kind → instruction kind) pair the lowering emitted for a node it covers. */
function emitted(graph: Graph, instrs: readonly Instr[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const i of instrs) {
    if (i.role !== 'model' && i.role !== 'hoisted') continue;
    for (const id of i.covers) {
      const kind = graph.nodes[id]!.op.kind;
      if (!out.has(kind)) out.set(kind, new Set());
      out.get(kind)!.add(i.op.kind);
    }
  }
  return out;
}

function expectDeclared(seen: Map<string, Set<string>>): void {
  expect(seen.size).toBeGreaterThan(5);
  for (const [kind, families] of seen) {
    const declared = (OP_TABLE as Record<string, { kernels: readonly string[] }>)[kind]!.kernels;
    for (const f of families) expect(declared, `${kind} lowers to ${f}`).toContain(f);
  }
}

describe('the op table', () => {
  it('names every language operator once, and each builds the op of its entry', () => {
    const names = Object.values(OP_TABLE).flatMap((d) => d.calls.map((c) => c.name));
    expect(new Set(names).size).toBe(names.length);
    expect([...OPS.keys()].sort()).toEqual([...names].sort());
    const language = readFileSync('docs/language.md', 'utf8');
    for (const n of names) expect(language, `docs/language.md documents \`${n}\``).toContain(n);
  });

  it('declares the kernel families the DiT lowering emits', () => {
    const m = openModel('models/dit.ditto', { model: 'DiT', set: { depth: 2, hidden: 32, heads: 2, latent: 8 }, batch: 1, cfg: true });
    const { state } = runPasses(m.graph, undefined, { steps: 2, batch: 1, cfgScale: 1.5, caps: LAVAPIPE_CAPS });
    const lowered = state.lowered!;
    expectDeclared(emitted(m.graph, [...lowered.prologue.instrs, ...lowered.bodies.flatMap((b) => b.instrs)]));
  });

  it('declares the kernel families a partial compute emits, and which ops run on chosen rows', () => {
    const m = openModel('models/dit.ditto', { model: 'DiT', set: { depth: 2, hidden: 32, heads: 2, latent: 8 }, batch: 1, cfg: true });
    const schedule = scheduleFor(m, 'toca', 8);
    const { state } = runPasses(m.graph, schedule, { steps: 8, batch: 1, cfgScale: 1.5, caps: LAVAPIPE_CAPS });
    const instrs = state.lowered!.bodies.flatMap((b) => b.instrs);
    expect(instrs.some((i) => i.op.kind === 'token_rows')).toBe(true);
    expect(instrs.some((i) => i.op.kind === 'attention' && i.op.queries !== undefined)).toBe(true);
    expectDeclared(emitted(m.graph, instrs));
    const partial = Object.entries(OP_TABLE).filter(([, d]) => (d as { partial?: string }).partial).map(([k, d]) => `${k}:${(d as { partial?: string }).partial}`);
    expect(partial.sort()).toEqual(['attention:queries', 'binary:rows', 'layernorm:rows', 'linear:rows', 'modulate:rows', 'unary:rows']);
  });

  it('declares the kernel families the VAE lowering emits', () => {
    const { graph } = openModel('models/vae.ditto', { model: 'VAE-Tiny', batch: 1, cfg: false });
    const lowered = lowerForward(graph, normaliseOptions({ steps: 1, batch: graph.batch, caps: LAVAPIPE_CAPS }));
    expectDeclared(emitted(graph, lowered.body.instrs));
  });
});
