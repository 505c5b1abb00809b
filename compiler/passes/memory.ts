/**
 * Pass `memory`: buffers for everything a body writes.
 *
 *  - Transient values (activations of one step) get pooled buffers by liveness: a value is live from
 *    its first write to its last read; a buffer is reused once every value in it is dead. Inputs and
 *    outputs of one instruction are live at the same time, so they never share (WebGPU could not
 *    bind one buffer as both anyway). The pool is shared by all bodies (they run one after another):
 *    buffer j is as large as the largest value any body puts in it.
 *  - Cache slots are persistent: live from the first step that touches them to the last step that
 *    does; slots whose step ranges do not overlap share a buffer (Δ-DiT's two block ranges do).
 */
import { numel } from '../../core/tensor.ts';
import type { Body, Instr, ValueInfo } from './ir.ts';
import { instrReads } from './verify.ts';

export interface MemoryPlan {
  /** Byte size of each pooled activation buffer. */
  pool: number[];
  /** Persistent cache buffers: byte size, the slots they hold, and the steps they are live. */
  caches: { bytes: number; slots: string[] }[];
  slotBuffer: Map<string, number>;
  slotLife: Map<string, [number, number]>;
}

export function valueBytes(v: ValueInfo): number {
  const per = v.dtype === 'f16' ? 2 : 4;
  return Math.ceil((numel(v.shape) * per) / 16) * 16;
}

/** Assigns pooled buffers to the transients of `body` (returns a new body) and grows `pool`. */
export function planBody(body: Body, values: Map<string, ValueInfo>, pool: number[]): Body {
  const def = new Map<string, number>();
  const last = new Map<string, number>();
  const touch = (v: string, i: number) => {
    if (values.get(v)?.storage !== 'transient') return;
    if (!def.has(v)) def.set(v, i);
    last.set(v, i);
  };
  body.instrs.forEach((ins, i) => {
    for (const v of instrReads(ins)) touch(v, i);
    for (const o of ins.outs) touch(o.value, i);
  });
  const order = [...def.keys()].sort((a, b) => def.get(a)! - def.get(b)! || (a < b ? -1 : 1));
  const buffers: Record<string, number> = {};
  /** Per pool buffer: the instruction after which it is free again in this body. */
  const busyUntil: number[] = [];
  const local: number[] = [];
  for (const v of order) {
    const d = def.get(v)!;
    const need = valueBytes(values.get(v)!);
    let best = -1;
    for (let j = 0; j < local.length; j++) {
      if (busyUntil[j]! >= d) continue;
      const size = Math.max(local[j]!, pool[j] ?? 0);
      const bestSize = best < 0 ? 0 : Math.max(local[best]!, pool[best] ?? 0);
      // Prefer the smallest buffer that fits; otherwise the largest one (it grows least).
      if (best < 0) best = j;
      else if (size >= need && (bestSize < need || size < bestSize)) best = j;
      else if (size < need && bestSize < need && size > bestSize) best = j;
    }
    if (best < 0) {
      best = local.length;
      local.push(0);
      busyUntil.push(-1);
    }
    local[best] = Math.max(local[best]!, need);
    busyUntil[best] = last.get(v)!;
    buffers[v] = best;
  }
  local.forEach((b, j) => (pool[j] = Math.max(pool[j] ?? 0, b)));
  return { ...body, buffers };
}

export function planCaches(bodies: Body[], stepBody: number[], values: Map<string, ValueInfo>): Omit<MemoryPlan, 'pool'> {
  const slotLife = new Map<string, [number, number]>();
  const slotsOf = bodies.map((b) => {
    const s = new Set<string>();
    for (const i of b.instrs) for (const v of [...i.cacheReads, ...i.cacheWrites]) s.add(v);
    return [...s];
  });
  stepBody.forEach((bi, k) => {
    for (const s of slotsOf[bi]!) {
      const l = slotLife.get(s);
      if (!l) slotLife.set(s, [k, k]);
      else l[1] = k;
    }
  });
  const slots = [...slotLife.keys()].sort((a, b) => slotLife.get(a)![0] - slotLife.get(b)![0] || (a < b ? -1 : 1));
  const caches: { bytes: number; slots: string[]; until: number }[] = [];
  const slotBuffer = new Map<string, number>();
  for (const s of slots) {
    const [first, end] = slotLife.get(s)!;
    const need = valueBytes(values.get(s)!);
    let j = caches.findIndex((c) => c.until < first && c.bytes >= need);
    if (j < 0) j = caches.findIndex((c) => c.until < first);
    if (j < 0) {
      j = caches.length;
      caches.push({ bytes: 0, slots: [], until: -1 });
    }
    const c = caches[j]!;
    c.bytes = Math.max(c.bytes, need);
    c.slots.push(s);
    c.until = end;
    slotBuffer.set(s, j);
  }
  return { caches: caches.map(({ bytes, slots: ss }) => ({ bytes, slots: ss })), slotBuffer, slotLife };
}

export function planMemory(prologue: Body, bodies: Body[], stepBody: number[], values: Map<string, ValueInfo>): { prologue: Body; bodies: Body[]; memory: MemoryPlan } {
  const pool: number[] = [];
  const p = planBody(prologue, values, pool);
  const bs = bodies.map((b) => planBody(b, values, pool));
  return { prologue: p, bodies: bs, memory: { pool, ...planCaches(bs, stepBody, values) } };
}

export type { Instr };
