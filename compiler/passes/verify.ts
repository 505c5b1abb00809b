/**
 * The verifier run between passes. It checks what the next pass relies on and fails with
 * E_INTERNAL naming the pass that broke it: node states cover the graph and keep the outputs; every
 * operand names a declared value and stays inside it; a transient is written before it is read in
 * its body; expressions reference existing inputs/outputs; after memory planning, no two values
 * that are live at once share a buffer; across the step sequence, no cache slot half is read before
 * some step wrote it.
 */
import { DittoError } from '../../core/errors.ts';
import { numel } from '../../core/tensor.ts';
import type { Graph } from '../ir/graph.ts';
import type { Body, Expr, Instr, StepSpec, ValueInfo } from './ir.ts';
import { viewExtent } from './views.ts';

function fail(pass: string, msg: string): never {
  throw new DittoError('E_INTERNAL', `IR verification failed after pass '${pass}': ${msg}`);
}

/** Values an instruction reads: its inputs and any output it updates in place. */
export function instrReads(i: Instr): string[] {
  const r = i.ins.map((o) => o.value);
  if (i.op.kind === 'elementwise') {
    const used = new Set<number>();
    for (const e of i.op.exprs) outputLeaves(e, used);
    for (const j of used) r.push(i.outs[j]!.value);
  }
  return r;
}

function outputLeaves(e: Expr, into: Set<number>): void {
  if (e.op === 'output') into.add(e.index);
  else if ('a' in e) {
    outputLeaves(e.a, into);
    if ('b' in e) outputLeaves(e.b, into);
  }
}

function maxInput(e: Expr): number {
  if (e.op === 'input') return e.index;
  if ('a' in e) return Math.max(maxInput(e.a), 'b' in e ? maxInput(e.b) : -1);
  return -1;
}

export function verifySteps(pass: string, graph: Graph, steps: StepSpec[]): void {
  for (const s of steps) {
    if (!s.states) continue;
    for (const b of ['cond', 'uncond'] as const) {
      const st = s.states[b];
      if (st.length !== graph.nodes.length) fail(pass, `step ${s.k} ${b}: ${st.length} node states for ${graph.nodes.length} nodes`);
      for (const o of graph.outputs) if (st[o.node] === 'dead') fail(pass, `step ${s.k} ${b}: output ${o.name} is dead`);
    }
  }
}

export function verifyBody(pass: string, name: string, body: Body, values: Map<string, ValueInfo>, maxBuffers: number): void {
  const written = new Set<string>();
  body.instrs.forEach((ins, k) => {
    const where = `${name} instruction ${k} (${ins.op.kind}${ins.op.kind === 'elementwise' ? ' ' + ins.op.label : ''})`;
    for (const o of [...ins.ins, ...ins.outs]) {
      const v = values.get(o.value);
      if (!v) fail(pass, `${where} names undeclared value '${o.value}'`);
      if (o.view.shape.length !== o.view.strides.length) fail(pass, `${where}: view of ${o.value} has ${o.view.shape.length} dims but ${o.view.strides.length} strides`);
      if (viewExtent(o.view) > numel(v.shape) || o.view.offset < 0) fail(pass, `${where}: view of ${o.value} reaches element ${viewExtent(o.view) - 1}, the value has ${numel(v.shape)}`);
    }
    for (const r of instrReads(ins)) {
      if (values.get(r)?.storage === 'transient' && !written.has(r)) fail(pass, `${where} reads transient ${r} before it is written`);
    }
    if (ins.op.kind === 'elementwise') {
      if (ins.op.exprs.length !== ins.outs.length) fail(pass, `${where}: ${ins.op.exprs.length} expressions for ${ins.outs.length} outputs`);
      for (const e of ins.op.exprs) if (maxInput(e) >= ins.ins.length) fail(pass, `${where}: expression reads input ${maxInput(e)} of ${ins.ins.length}`);
      for (const o of [...ins.ins, ...ins.outs]) {
        if (o.view.shape.join() !== ins.op.shape.join()) fail(pass, `${where}: view of ${o.value} is [${o.view.shape}] but the iteration shape is [${ins.op.shape}]`);
      }
      const buffers = new Set([...ins.ins, ...ins.outs].map((o) => o.value)).size;
      if (buffers > maxBuffers) fail(pass, `${where} binds ${buffers} storage buffers, over the limit ${maxBuffers}`);
    }
    for (const o of ins.outs) written.add(o.value);
  });
  if (body.buffers) verifyBuffers(pass, name, body, values);
}

function verifyBuffers(pass: string, name: string, body: Body, values: Map<string, ValueInfo>): void {
  const life = new Map<string, [number, number]>();
  body.instrs.forEach((ins, i) => {
    for (const v of [...instrReads(ins), ...ins.outs.map((o) => o.value)]) {
      if (values.get(v)?.storage !== 'transient') continue;
      const l = life.get(v);
      if (!l) life.set(v, [i, i]);
      else l[1] = i;
    }
  });
  const byBuffer = new Map<number, string[]>();
  for (const v of life.keys()) {
    const b = body.buffers![v];
    if (b === undefined) fail(pass, `${name}: transient ${v} has no buffer`);
    byBuffer.set(b, [...(byBuffer.get(b) ?? []), v]);
  }
  for (const [b, vs] of byBuffer) {
    for (let x = 0; x < vs.length; x++) {
      for (let y = x + 1; y < vs.length; y++) {
        const [a0, a1] = life.get(vs[x]!)!;
        const [b0, b1] = life.get(vs[y]!)!;
        if (a0 <= b1 && b0 <= a1) fail(pass, `${name}: ${vs[x]} and ${vs[y]} are live together but share activation buffer ${b}`);
      }
    }
  }
}

/** Sample halves of cache slots: none is read at a step before some step (or earlier in the same body) wrote it. */
export function verifyCacheOrder(pass: string, bodies: Body[], stepBody: number[], values: Map<string, ValueInfo>, modelBatch: number): void {
  const written = new Map<string, Uint8Array>();
  const samples = (value: string, o: { offset: number; shape: number[]; strides: number[] }): [number, number] => {
    const per = numel(values.get(value)!.shape) / modelBatch;
    const start = Math.floor(o.offset / per);
    return [start, start + (o.strides[0] === per ? o.shape[0]! : 1)];
  };
  stepBody.forEach((bi, k) => {
    for (const ins of bodies[bi]!.instrs) {
      const reads = new Set(instrReads(ins));
      for (const o of [...ins.ins, ...ins.outs]) {
        if (values.get(o.value)?.storage !== 'cache' || !reads.has(o.value)) continue;
        const w = written.get(o.value);
        const [s0, s1] = samples(o.value, o.view);
        for (let s = s0; s < s1; s++) if (!w || !w[s]) fail(pass, `step ${k} reads cache slot ${o.value} (sample ${s}) before any step wrote it`);
      }
      for (const o of ins.outs) {
        if (values.get(o.value)?.storage !== 'cache') continue;
        const w = written.get(o.value) ?? new Uint8Array(modelBatch);
        const [s0, s1] = samples(o.value, o.view);
        for (let s = s0; s < s1; s++) w[s] = 1;
        written.set(o.value, w);
      }
    }
  });
}
