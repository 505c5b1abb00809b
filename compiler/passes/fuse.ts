/**
 * Pass `fuse`: fewer, fatter dispatches. Rewrites each body in sweeps, each sweep one pattern:
 *
 *  1. silu-into-matmul: silu(c) feeding only matmuls is applied while the matmul loads A;
 *  2. concatenated projections: all bias-linears reading the same input (for DiT: the `depth`
 *     adaLN projections and the final layer's, all over silu(c)) become one matmul over a fused
 *     weight [Σout, in]. The group is taken from the graph, not the body, so every body shares one
 *     fused weight (members dead at a step are still computed: they cost ~0.01% of a step); groups
 *     are cut where the weight would exceed the adapter's maxStorageBufferBindingSize;
 *  3. matmul + GELU-tanh epilogue;
 *  4. layernorm + adaLN modulate (shift and scale are chunks of one modulation tensor);
 *  5. matmul + `residual + gate ⊙ out` epilogue (when the raw output is not needed elsewhere: a
 *     value that a cache stores is written raw and gated by a separate reuse-and-gate kernel);
 *  6. elementwise chains: a producer whose only consumer is an elementwise instruction reading it
 *     element-aligned is inlined into the consumer's expression (CFG combine + eps scale + sampler
 *     update; Taylor forecast + gate + residual; residual-reuse chains over block ranges), within the
 *     adapter's storage-buffer-per-stage limit.
 */
import { invariant } from '../../core/errors.ts';
import type { Graph, NodeId } from '../ir/graph.ts';
import type { CompileCaps } from '../plan/caps.ts';
import type { Body, Expr, Instr, Operand, ValueInfo, View } from './ir.ts';
import { isRows } from './lowerBody.ts';
import { fuseImageOps } from './fuseImage.ts';
import { contiguous, sameView } from './views.ts';

const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

export interface FuseContext {
  graph: Graph;
  values: Map<string, ValueInfo>;
  caps: CompileCaps;
  f16: boolean;
}

export function fuseBody(body: Body, ctx: FuseContext): Body {
  let instrs = body.instrs;
  // Image ops first: concat placement must precede the concatenated-projection grouping.
  instrs = fuseImageOps(instrs, ctx);
  instrs = siluIntoMatmul(instrs, ctx);
  instrs = concatProjections(instrs, ctx);
  instrs = geluEpilogue(instrs, ctx);
  instrs = lnModulate(instrs, ctx);
  instrs = gateResidualEpilogue(instrs, ctx);
  for (let changed = true; changed; ) [instrs, changed] = elementwiseChains(instrs, ctx);
  return { instrs };
}

// ---------------------------------------------------------------------------------------------

export interface Uses {
  /** value → indices of instructions reading it (ins, or an in-place output). */
  readers: Map<string, number[]>;
  writers: Map<string, number[]>;
}

export function uses(instrs: readonly Instr[]): Uses {
  const readers = new Map<string, number[]>();
  const writers = new Map<string, number[]>();
  const add = (m: Map<string, number[]>, v: string, i: number) => {
    const l = m.get(v);
    if (!l) m.set(v, [i]);
    else if (l[l.length - 1] !== i) l.push(i);
  };
  instrs.forEach((ins, i) => {
    for (const o of ins.ins) add(readers, o.value, i);
    ins.outs.forEach((o, j) => {
      add(writers, o.value, i);
      if (ins.op.kind === 'elementwise' && ins.op.exprs.some((e) => readsOutput(e, j))) add(readers, o.value, i);
    });
  });
  return { readers, writers };
}

export function readsOutput(e: Expr, j: number): boolean {
  if (e.op === 'output') return e.index === j;
  if ('a' in e) return readsOutput(e.a, j) || ('b' in e ? readsOutput(e.b, j) : false);
  return false;
}

export function transient(ctx: FuseContext, v: string): boolean {
  return ctx.values.get(v)?.storage === 'transient';
}

/** The single instruction reading `value`, or undefined. */
export function soleReader(u: Uses, value: string): number | undefined {
  const r = u.readers.get(value);
  return r && r.length === 1 ? r[0] : undefined;
}

export function isUnary(i: Instr, fn: string): boolean {
  return i.op.kind === 'elementwise' && i.op.exprs.length === 1 && i.op.exprs[0]!.op === fn && (i.op.exprs[0] as { a: Expr }).a.op === 'input' && i.ins.length === 1 && i.outs.length === 1;
}

export function merged(a: Instr, b: Instr, over: Partial<Instr>): Instr {
  return {
    ...b,
    covers: [...new Set([...a.covers, ...b.covers])],
    cacheReads: [...new Set([...a.cacheReads, ...b.cacheReads])],
    cacheWrites: [...new Set([...a.cacheWrites, ...b.cacheWrites])],
    ...(a.usesParams || b.usesParams ? { usesParams: true } : {}),
    role: b.role === 'model' ? a.role : b.role,
    ...over,
  };
}

/** Two instructions run on the same path of a dynamic step (or both always): only those may fuse. */
export function sameGuard(a: Instr, b: Instr): boolean {
  return a.guard?.rule === b.guard?.rule && a.guard?.when === b.guard?.when && a.guard?.branch === b.guard?.branch;
}

export function compact(instrs: (Instr | null)[]): Instr[] {
  return instrs.filter((i): i is Instr => i !== null);
}

// ---------------------------------------------------------------------------------------------

function siluIntoMatmul(instrs: Instr[], ctx: FuseContext): Instr[] {
  const u = uses(instrs);
  const out: (Instr | null)[] = [...instrs];
  instrs.forEach((e, i) => {
    if (!isUnary(e, 'silu') || !transient(ctx, e.outs[0]!.value)) return;
    const src = e.ins[0]!;
    if (!isRows(src.view) || !sameShape(src.view, e.outs[0]!.view)) return;
    const readers = u.readers.get(e.outs[0]!.value) ?? [];
    const ok = readers.every((r) => {
      const m = instrs[r]!;
      return m.op.kind === 'matmul' && !m.op.siluInput && m.ins[0]!.value === e.outs[0]!.value && sameView(m.ins[0]!.view, e.outs[0]!.view) && m.ins.slice(1).every((o) => o.value !== e.outs[0]!.value);
    });
    if (!ok || readers.length === 0) return;
    for (const r of readers) {
      const m = out[r]!;
      invariant(m.op.kind === 'matmul', 'matmul');
      out[r] = merged(e, m, { op: { ...m.op, siluInput: true }, ins: [src, ...m.ins.slice(1)] });
    }
    out[i] = null;
  });
  return compact(out);
}

function sameShape(a: View, b: View): boolean {
  return a.shape.length === b.shape.length && a.shape.every((d, k) => d === b.shape[k]);
}

// ---------------------------------------------------------------------------------------------

/** Graph-level groups: bias-linears sharing an input, cut at the binding-size limit. */
function projectionGroups(ctx: FuseContext): Map<NodeId, NodeId[]> {
  const g = ctx.graph;
  const byInput = new Map<NodeId, NodeId[]>();
  for (const n of g.nodes) {
    if (n.op.kind !== 'linear' || !n.op.bias) continue;
    const l = byInput.get(n.inputs[0]!) ?? [];
    l.push(n.id);
    byInput.set(n.inputs[0]!, l);
  }
  const groupOf = new Map<NodeId, NodeId[]>();
  const bytes = ctx.f16 ? 2 : 4;
  for (const members of byInput.values()) {
    if (members.length < 2) continue;
    let cur: NodeId[] = [];
    let size = 0;
    const flush = () => {
      if (cur.length >= 2) for (const m of cur) groupOf.set(m, cur);
      cur = [];
      size = 0;
    };
    for (const id of members) {
      const op = g.nodes[id]!.op as { inFeatures: number; outFeatures: number };
      const w = op.inFeatures * op.outFeatures * bytes;
      if (size + w > ctx.caps.maxStorageBufferBindingSize) flush();
      cur.push(id);
      size += w;
    }
    flush();
  }
  return groupOf;
}

function concatProjections(instrs: Instr[], ctx: FuseContext): Instr[] {
  const groups = projectionGroups(ctx);
  if (groups.size === 0) return instrs;
  const g = ctx.graph;
  // Body instructions computing a member, by CFG branch and node: at a split step (one half dead,
  // or the halves lowered apart) each branch's projections form a group of their own.
  const memberKey = (branch: Instr['branch'], node: NodeId) => `${branch ?? 'both'}|${node}`;
  const memberInstr = new Map<string, number>();
  instrs.forEach((ins, i) => {
    if (ins.op.kind !== 'matmul' || ins.covers.length === 0) return;
    const node = ins.covers[ins.covers.length - 1]!;
    if (groups.has(node) && g.nodes[node]!.op.kind === 'linear') memberInstr.set(memberKey(ins.branch, node), i);
  });
  // Each branch's members of a group, with whether they can fuse: same input view, transient
  // outputs, each a row range [r0, r0 + m) of its value (the whole value, or one CFG half).
  interface Candidate { i: number; branch: Instr['branch']; members: NodeId[]; present: Instr[]; r0: number; rows: number; ok: boolean }
  const candidates: Candidate[] = [];
  const seen = new Set<string>();
  for (const [key, i] of [...memberInstr].sort((a, b) => a[1] - b[1])) {
    const branch = instrs[i]!.branch;
    const members = groups.get(Number(key.slice(key.indexOf('|') + 1)))!;
    const groupKey = memberKey(branch, members[0]!);
    if (seen.has(groupKey)) continue;
    seen.add(groupKey);
    const present = members.map((m) => memberInstr.get(memberKey(branch, m))).filter((x): x is number => x !== undefined).map((x) => instrs[x]!);
    const first = present[0]!;
    const firstOp = first.op;
    invariant(firstOp.kind === 'matmul', 'matmul');
    const a = first.ins[0]!;
    // A value as rows of its last dimension; a member writes rows r0 … r0 + m − 1 of it.
    const rowsOf = (p: Instr) => numel(ctx.values.get(p.outs[0]!.value)!.shape) / (p.op as { n: number }).n;
    const r0 = first.outs[0]!.view.offset / firstOp.n;
    const ok = Number.isInteger(r0) && present.every((p) => {
      const op = p.op;
      if (op.kind !== 'matmul' || p.branch !== branch || op.gelu || op.gate || op.siluInput !== firstOp.siluInput || op.m !== firstOp.m) return false;
      if (p.ins[0]!.value !== a.value || !sameView(p.ins[0]!.view, a.view) || !transient(ctx, p.outs[0]!.value)) return false;
      // a member already writing a slice of a larger value (a concat) keeps its own matmul
      const shape = ctx.values.get(p.outs[0]!.value)!.shape;
      const view = p.outs[0]!.view;
      return shape[shape.length - 1] === op.n && view.shape[view.shape.length - 1] === op.n && numel(view.shape) === op.m * op.n &&
        rowsOf(p) === rowsOf(first) && r0 + op.m <= rowsOf(p) && sameView(view, contiguous(view.shape, r0 * op.n));
    });
    candidates.push({ i, branch, members, present, r0, rows: rowsOf(first), ok });
  }
  // A value is renamed for every reader, so it fuses only if every group writing it does (the
  // other CFG half of a split step must not be left writing a value nobody reads).
  const blocked = new Set(candidates.filter((c) => !c.ok).flatMap((c) => c.present.map((p) => p.outs[0]!.value)));
  const out: (Instr | null)[] = [...instrs];
  const renames = new Map<string, { value: string; col: number; width: number; total: number }>();
  for (const { i, branch, members, present, r0, rows, ok } of candidates) {
    if (!ok || present.some((p) => blocked.has(p.outs[0]!.value))) continue;
    const first = present[0]!;
    invariant(first.op.kind === 'matmul', 'matmul');
    const a = first.ins[0]!;
    const total = members.reduce((s, m) => s + (g.nodes[m]!.op as { outFeatures: number }).outFeatures, 0);
    const K = first.op.k;
    const M = first.op.m;
    const dtype = ctx.f16 ? 'f16' : 'f32';
    const wSources = [];
    const bSources = [];
    let col = 0;
    const tag = `${g.nodes[members[0]!]!.weights[0]!.name}..${members.length}`;
    const cat = `cat:${tag}`;
    for (const m of members) {
      const n = g.nodes[m]!;
      const width = (n.op as { outFeatures: number }).outFeatures;
      wSources.push({ name: n.weights[0]!.name, shape: [...n.weights[0]!.shape], offset: col * K });
      bSources.push({ name: n.weights[1]!.name, shape: [...n.weights[1]!.shape], offset: col });
      const instrIdx = memberInstr.get(memberKey(branch, m));
      if (instrIdx !== undefined) renames.set(instrs[instrIdx]!.outs[0]!.value, { value: cat, col, width, total });
      col += width;
    }
    const w = `wcat:${tag}.weight`;
    const bias = `wcat:${tag}.bias`;
    ctx.values.set(w, { name: w, shape: [total, K], dtype, storage: 'fused_weight', sources: wSources });
    ctx.values.set(bias, { name: bias, shape: [total], dtype, storage: 'fused_weight', sources: bSources });
    // Rows as in the values it replaces: each CFG half of a split step writes its own rows.
    ctx.values.set(cat, { name: cat, shape: [rows, total], dtype: 'f32', storage: 'transient' });
    const fusedCovers = members.flatMap((m) => [m]);
    // Members on different paths of a dynamic step merge into one that always runs: the
    // projections are pure, so computing a dead member's columns costs time, never correctness.
    const { guard: _firstGuard, ...firstRest } = first;
    const guard = present.every((p) => sameGuard(p, first)) ? first.guard : undefined;
    out[i] = {
      ...firstRest,
      ...(guard ? { guard } : {}),
      op: { ...first.op, n: total },
      ins: [a, { value: w, view: { offset: 0, shape: [total, K], strides: [K, 1] } }, { value: bias, view: { offset: 0, shape: [total], strides: [1] } }],
      outs: [{ value: cat, view: { offset: r0 * total, shape: [M, total], strides: [total, 1] } }],
      covers: [...new Set([...present.flatMap((p) => p.covers), ...fusedCovers])],
      note: `${members.length} projections of one input as one matmul${branch ? ` (${branch} half)` : ''}`,
    };
    for (const p of present) {
      const idx = instrs.indexOf(p);
      if (idx !== i) out[idx] = null;
    }
  }
  if (renames.size === 0) return instrs;
  const remap = (o: Operand): Operand => {
    const r = renames.get(o.value);
    if (!r) return o;
    // Old layout [rows, width] contiguous → columns col.. of [rows, total].
    const row = Math.floor(o.view.offset / r.width);
    const c = o.view.offset % r.width;
    const strides = o.view.strides.map((s) => (s !== 0 && s % r.width === 0 ? (s / r.width) * r.total : s));
    return { value: r.value, view: { offset: row * r.total + r.col + c, shape: [...o.view.shape], strides } };
  };
  return compact(out).map((ins) => (ins.ins.some((o) => renames.has(o.value)) ? { ...ins, ins: ins.ins.map(remap) } : ins));
}

// ---------------------------------------------------------------------------------------------

function geluEpilogue(instrs: Instr[], ctx: FuseContext): Instr[] {
  const u = uses(instrs);
  const out: (Instr | null)[] = [...instrs];
  instrs.forEach((m, i) => {
    if (m.op.kind !== 'matmul' || m.op.gelu || m.op.gate || !transient(ctx, m.outs[0]!.value)) return;
    const r = soleReader(u, m.outs[0]!.value);
    if (r === undefined) return;
    const e = instrs[r]!;
    if (!sameGuard(m, e) || !isUnary(e, 'gelu_tanh') || !sameView(e.ins[0]!.view, m.outs[0]!.view) || !isRows(e.outs[0]!.view)) return;
    if ((u.writers.get(e.outs[0]!.value) ?? []).length !== 1) return;
    out[i] = merged(m, e, { op: { ...m.op, gelu: true }, ins: m.ins, outs: [{ value: e.outs[0]!.value, view: e.outs[0]!.view }], note: m.note });
    out[r] = null;
  });
  return compact(out);
}

// ---------------------------------------------------------------------------------------------

function lnModulate(instrs: Instr[], ctx: FuseContext): Instr[] {
  const u = uses(instrs);
  const out: (Instr | null)[] = [...instrs];
  instrs.forEach((l, i) => {
    if (l.op.kind !== 'layernorm' || !transient(ctx, l.outs[0]!.value)) return;
    const r = soleReader(u, l.outs[0]!.value);
    if (r === undefined) return;
    const m = instrs[r]!;
    if (m.op.kind !== 'elementwise' || m.op.label !== 'modulate' || m.ins.length !== 3 || !sameGuard(l, m)) return;
    const [x, shift, scale] = m.ins as [Operand, Operand, Operand];
    if (x.value !== l.outs[0]!.value || !sameView(x.view, l.outs[0]!.view) || !isRows(m.outs[0]!.view)) return;
    if (shift.value !== scale.value || !perSample(shift.view) || !perSample(scale.view) || shift.view.strides[0] !== scale.view.strides[0]) return;
    out[r] = merged(l, m, { op: { kind: 'ln_modulate', rows: l.op.rows, dim: l.op.dim, eps: l.op.eps, tokens: l.op.tokens }, ins: [l.ins[0]!, shift, scale] });
    out[i] = null;
  });
  return compact(out);
}

/** [B, T, D] view of a [B, D] tensor broadcast over tokens (strides [row, 0, 1]). */
function perSample(v: View): boolean {
  return v.shape.length === 3 && v.strides[1] === 0 && v.strides[2] === 1;
}

// ---------------------------------------------------------------------------------------------

function gateResidualEpilogue(instrs: Instr[], ctx: FuseContext): Instr[] {
  const u = uses(instrs);
  const out: (Instr | null)[] = [...instrs];
  const taken = new Set<number>();
  instrs.forEach((mm, i) => {
    if (mm.op.kind !== 'matmul' || mm.op.gate || !transient(ctx, mm.outs[0]!.value)) return;
    const v = mm.outs[0]!;
    const gi = soleReader(u, v.value);
    if (gi === undefined || taken.has(gi)) return;
    const g = instrs[gi]!;
    if (!sameGuard(mm, g) || g.op.kind !== 'elementwise' || g.op.label !== 'mul' || g.ins.length !== 2 || g.outs.length !== 1 || !transient(ctx, g.outs[0]!.value)) return;
    const vi = g.ins.findIndex((o) => o.value === v.value);
    const gate = g.ins[1 - vi]!;
    const e = g.op.exprs[0]!;
    if (vi < 0 || e.op !== 'mul' || !perSample(gate.view) || !sameView(v.view, g.ins[vi]!.view)) return;
    const ai = soleReader(u, g.outs[0]!.value);
    if (ai === undefined) return;
    const a = instrs[ai]!;
    if (!sameGuard(g, a) || a.op.kind !== 'elementwise' || a.op.label !== 'add' || a.ins.length !== 2 || a.outs.length !== 1) return;
    const gvi = a.ins.findIndex((o) => o.value === g.outs[0]!.value);
    const res = a.ins[1 - gvi]!;
    if (gvi < 0 || !sameView(a.ins[gvi]!.view, g.outs[0]!.view) || !sameView(res.view, a.outs[0]!.view) || !sameView(v.view, a.outs[0]!.view)) return;
    // Moving the matmul to the add's place must not skip over a reader of its inputs' writers.
    for (let j = i + 1; j < ai; j++) if (instrs[j]!.outs.some((o) => mm.ins.some((x) => x.value === o.value))) return;
    const samples = gate.view.shape[0]!;
    const gate2: Operand = { value: gate.value, view: { offset: gate.view.offset, shape: [samples, gate.view.shape[2]!], strides: [gate.view.strides[0]!, 1] } };
    const fused = merged(merged(mm, g, {}), a, {
      op: { ...mm.op, gate: { tokens: gate.view.shape[1]! } },
      ins: [...mm.ins, gate2, res],
      outs: [{ value: a.outs[0]!.value, view: v.view }],
      note: 'matmul with residual + gate ⊙ out epilogue',
    });
    out[ai] = fused;
    out[i] = null;
    out[gi] = null;
    taken.add(gi);
  });
  return compact(out);
}

// ---------------------------------------------------------------------------------------------

function elementwiseChains(instrs: Instr[], ctx: FuseContext): [Instr[], boolean] {
  const u = uses(instrs);
  const out: (Instr | null)[] = [...instrs];
  let changed = false;
  const touched = new Set<number>();
  for (let i = 0; i < instrs.length; i++) {
    const p = instrs[i]!;
    if (touched.has(i) || p.op.kind !== 'elementwise' || p.outs.length !== 1 || readsOutput(p.op.exprs[0]!, 0)) continue;
    const pv = p.outs[0]!;
    if (!transient(ctx, pv.value) || (u.writers.get(pv.value) ?? []).length !== 1) continue;
    const ci = soleReader(u, pv.value);
    if (ci === undefined || touched.has(ci)) continue;
    const c = instrs[ci]!;
    if (c.op.kind !== 'elementwise' || !sameGuard(p, c) || !sameShapeArr(c.op.shape, p.op.shape)) continue;
    if (!c.ins.every((o) => o.value !== pv.value || sameView(o.view, pv.view))) continue;
    if (c.outs.some((o) => o.value === pv.value)) continue;
    // P's inputs must not be written between P and C (C included).
    let hazard = false;
    for (let j = i + 1; j <= ci && !hazard; j++) hazard = instrs[j]!.outs.some((o) => p.ins.some((x) => x.value === o.value));
    if (hazard) continue;
    // New input list: C's (minus P's output) then P's, deduplicated.
    const ins: Operand[] = [];
    const indexOf = (o: Operand) => {
      const k = ins.findIndex((x) => x.value === o.value && sameView(x.view, o.view));
      if (k >= 0) return k;
      ins.push(o);
      return ins.length - 1;
    };
    const cMap = c.ins.map((o) => (o.value === pv.value ? -1 : indexOf(o)));
    const pMap = p.ins.map(indexOf);
    // The elementwise kernel binds one storage buffer per operand (two views of one value are two
    // bindings), plus the params row: that is what must fit the adapter's per-stage limit.
    if (ins.length + c.outs.length + 1 > ctx.caps.maxStorageBuffersPerShaderStage) continue;
    const pExpr = renumber(p.op.exprs[0]!, (k) => pMap[k]!);
    const exprs = c.op.exprs.map((e) => substitute(e, (k) => (cMap[k] === -1 ? pExpr : { op: 'input', index: cMap[k]! })));
    out[ci] = merged(p, c, { op: { ...c.op, exprs, label: `${p.op.label}+${c.op.label}` }, ins, note: [p.note, c.note].filter(Boolean).join('; ') || undefined });
    out[i] = null;
    touched.add(i).add(ci);
    changed = true;
  }
  return [compact(out), changed];
}

function sameShapeArr(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, k) => d === b[k]);
}

function renumber(e: Expr, f: (k: number) => number): Expr {
  return substitute(e, (k) => ({ op: 'input', index: f(k) }));
}

function substitute(e: Expr, f: (k: number) => Expr): Expr {
  switch (e.op) {
    case 'input':
      return f(e.index);
    case 'output':
    case 'const':
    case 'uniform':
      return e;
    default:
      if ('b' in e) return { ...e, a: substitute(e.a, f), b: substitute(e.b, f) } as Expr;
      return { ...e, a: substitute(e.a, f) } as Expr;
  }
}
