/** Text forms of the middle-end IR, for `--dump-after PASS`. Stable and diffable. */
import type { Graph } from '../ir/graph.ts';
import type { Body, Instr, Operand, StepSpec, ValueInfo } from './ir.ts';

/** Consecutive steps with the same text are printed once, as a range. */
function runs(lines: string[]): string {
  const out: string[] = [];
  for (let k = 0; k < lines.length; ) {
    let j = k;
    while (j + 1 < lines.length && lines[j + 1] === lines[k]) j++;
    out.push(`step ${j > k ? `${k}..${j}` : k}: ${lines[k]}`);
    k = j + 1;
  }
  return out.join('\n') + '\n';
}

export function dumpSteps(graph: Graph, steps: StepSpec[], withStates: boolean): string {
  const name = (id: number) => graph.nodes[id]!.path ?? `%${id}`;
  return runs(
    steps.map((s) => {
      const parts: string[] = [];
      for (const b of ['cond', 'uncond'] as const) {
        const t = s.targets[b].map((e) => `${e.target}:${e.action}${e.storeValue ? '+store' : ''}${e.storeResidual ? '+store_res' : ''}${e.forecast ? `(m=${e.forecast.m},k=${e.forecast.order})` : ''}`);
        if (t.length) parts.push(`${b}[${t.join(' ')}]`);
        if (withStates && s.states) {
          const counts: Record<string, number> = {};
          const named: string[] = [];
          s.states[b].forEach((st, id) => {
            counts[st] = (counts[st] ?? 0) + 1;
            if (st !== 'compute' && st !== 'dead' && graph.nodes[id]!.path) named.push(`${name(id)}=${st}`);
          });
          parts.push(`${b}{${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ')}}${named.length ? ' ' + named.join(' ') : ''}`);
        }
      }
      if (s.split) parts.push('SPLIT');
      return parts.join('  ') || 'all compute';
    }),
  );
}

function operand(o: Operand): string {
  const v = o.view;
  return `${o.value}[${v.shape.join('x')}${v.offset ? ` @${v.offset}` : ''}${v.strides.some((s) => s === 0) ? ` s=${v.strides.join(',')}` : ''}]`;
}

export function instrLine(i: Instr, buffers?: Record<string, number>): string {
  const op = i.op;
  const attrs = Object.entries(op)
    .filter(([k]) => k !== 'kind' && k !== 'exprs')
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`)
    .join(' ');
  const out = i.outs.map((o) => operand(o) + (buffers && buffers[o.value] !== undefined ? `→act${buffers[o.value]}` : '')).join(', ');
  return `${op.kind} ${attrs} (${i.ins.map(operand).join(', ')}) -> ${out}  ; ${i.role}${i.branch ? ' ' + i.branch : ''}${i.note ? ' — ' + i.note : ''}`;
}

export function dumpBodies(s: { prologue?: Body; bodies?: Body[]; stepBody?: number[]; lowered?: { values: Map<string, ValueInfo> } }): string {
  const L: string[] = [];
  const steps = new Map<number, number[]>();
  s.stepBody!.forEach((b, k) => steps.set(b, [...(steps.get(b) ?? []), k]));
  const body = (title: string, b: Body) => {
    L.push(`${title} (${b.instrs.length} instructions)`);
    b.instrs.forEach((ins, n) => L.push(`  %${n} ${instrLine(ins, b.buffers)}`));
  };
  body('prologue', s.prologue!);
  s.bodies!.forEach((b, i) => body(`body ${i} steps ${compactList(steps.get(i) ?? [])}`, b));
  return L.join('\n') + '\n';
}

function compactList(ks: number[]): string {
  const out: string[] = [];
  for (let i = 0; i < ks.length; ) {
    let j = i;
    while (j + 1 < ks.length && ks[j + 1] === ks[j]! + 1) j++;
    out.push(j > i ? `${ks[i]}..${ks[j]}` : `${ks[i]}`);
    i = j + 1;
  }
  return out.join(',');
}
