/**
 * `--profile`: every dispatch in its own compute pass with timestamp writes, resolved step by
 * step into one buffer read back after the run. Times are summed per kernel family and per plan
 * node (a fused dispatch's time is split evenly over the nodes it covers).
 */
import type { Plan, PlanBody } from '../../compiler/plan/types.ts';
import { DittoError } from '../../core/errors.ts';
import type { GpuContext } from '../device.ts';
import { readBack } from '../gpu/buffers.ts';
import type { BindGroups } from './bindGroups.ts';
import type { KernelPipeline } from './pipelines.ts';
import { encodeDispatch } from './dispatch.ts';

export interface ProfileRow {
  name: string;
  ms: number;
  count: number;
  share: number;
}

export interface ProfileReport {
  totalMs: number;
  byFamily: ProfileRow[];
  byNode: ProfileRow[];
  topKernels: ProfileRow[];
  /** With `perDispatch`: every timed dispatch in run order — its body (−1: the prologue), its index there, its time. */
  dispatches?: { body: number; index: number; ms: number }[];
}

interface Slot {
  kernel: number;
  covers: number[];
  body: number;
  index: number;
}

export class Profiler {
  private readonly querySet: GPUQuerySet;
  private readonly resolveBuffer: GPUBuffer;
  private readonly results: GPUBuffer;
  private readonly slots: Slot[] = [];
  private readonly capacity: number;

  constructor(private readonly gpu: GpuContext, private readonly plan: Plan) {
    if (!gpu.hasTimestamps) throw new DittoError('E_USAGE', `--profile needs the adapter feature timestamp-query, which '${gpu.report.name}' lacks`);
    const perBody = Math.max(plan.prologue.dispatches.length, ...plan.bodies.map((b) => b.dispatches.length));
    const total = plan.prologue.dispatches.length + plan.stepBody.reduce((a, b) => a + plan.bodies[b]!.dispatches.length, 0);
    this.capacity = total;
    const d = gpu.device;
    this.querySet = d.createQuerySet({ type: 'timestamp', count: 2 * perBody });
    this.resolveBuffer = d.createBuffer({ size: 16 * perBody, usage: 0x200 | 0x04 }); // QUERY_RESOLVE | COPY_SRC
    this.results = d.createBuffer({ size: 16 * total, usage: 0x08 | 0x04 }); // COPY_DST | COPY_SRC
  }

  encode(enc: GPUCommandEncoder, body: PlanBody, bodyIndex: number, k: number, pipelines: KernelPipeline[], groups: BindGroups, buffers: readonly GPUBuffer[]): void {
    const first = this.slots.length;
    body.dispatches.forEach((d, j) => {
      const pass = enc.beginComputePass({ timestampWrites: { querySet: this.querySet, beginningOfPassWriteIndex: 2 * j, endOfPassWriteIndex: 2 * j + 1 } });
      pass.setPipeline(pipelines[d.kernel]!.pipeline);
      pass.setBindGroup(0, groups.get(bodyIndex, j, d, k));
      encodeDispatch(pass, d, buffers);
      pass.end();
      this.slots.push({ kernel: d.kernel, covers: d.covers, body: bodyIndex, index: j });
    });
    const n = body.dispatches.length;
    if (n === 0) return;
    enc.resolveQuerySet(this.querySet, 0, 2 * n, this.resolveBuffer, 0);
    enc.copyBufferToBuffer(this.resolveBuffer, 0, this.results, 16 * first, 16 * n);
  }

  async report(perDispatch = false): Promise<ProfileReport> {
    const raw = new BigUint64Array(await readBack(this.gpu.device, this.results, 16 * Math.min(this.capacity, this.slots.length)));
    const family = new Map<string, { ms: number; count: number }>();
    const node = new Map<string, { ms: number; count: number }>();
    const kernel = new Map<string, { ms: number; count: number }>();
    let totalMs = 0;
    const dispatches: ProfileReport['dispatches'] = [];
    const bump = (m: Map<string, { ms: number; count: number }>, key: string, ms: number) => {
      const e = m.get(key) ?? { ms: 0, count: 0 };
      e.ms += ms;
      e.count++;
      m.set(key, e);
    };
    this.slots.forEach((s, i) => {
      const ns = Number(raw[2 * i + 1]! - raw[2 * i]!);
      const ms = ns > 0 && ns < 1e12 ? ns / 1e6 : 0;
      totalMs += ms;
      dispatches.push({ body: s.body, index: s.index, ms });
      const k = this.plan.kernels[s.kernel]!;
      bump(family, k.family, ms);
      bump(kernel, `#${k.id} ${k.family}`, ms);
      const names = s.covers.map((c) => this.plan.nodes[c]?.path ?? `${this.plan.nodes[c]?.op ?? '?'}#${c}`);
      for (const n of names.length ? names : ['(runtime)']) bump(node, n, ms / Math.max(1, names.length));
    });
    const rows = (m: Map<string, { ms: number; count: number }>) =>
      [...m].map(([name, v]) => ({ name, ms: v.ms, count: v.count, share: totalMs > 0 ? v.ms / totalMs : 0 })).sort((a, b) => b.ms - a.ms);
    this.querySet.destroy();
    this.resolveBuffer.destroy();
    this.results.destroy();
    return { totalMs, byFamily: rows(family), byNode: rows(node), topKernels: rows(kernel).slice(0, 10), ...(perDispatch ? { dispatches } : {}) };
  }
}
