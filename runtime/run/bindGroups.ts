/**
 * Bind groups, built once per dispatch of each body; a dispatch that binds per-step rows (sampler
 * params, noise) gets one bind group per step that runs its body, built on first use and kept.
 */
import type { Plan, PlanDispatch } from '../../compiler/plan/types.ts';
import type { KernelPipeline } from './pipelines.ts';

export class BindGroups {
  private readonly cache = new Map<string, GPUBindGroup>();

  constructor(
    private readonly device: GPUDevice,
    private readonly plan: Plan,
    private readonly buffers: GPUBuffer[],
    private readonly pipelines: KernelPipeline[],
  ) {}

  /** The bind group of dispatch `d` (index `j` of body `body`; -1 = prologue) at step k. */
  get(body: number, j: number, d: PlanDispatch, k: number): GPUBindGroup {
    const perStep = d.bindings.some((b) => b.perStep !== undefined);
    const key = perStep ? `${body}:${j}:${k}` : `${body}:${j}`;
    let bg = this.cache.get(key);
    if (!bg) {
      bg = this.device.createBindGroup({
        layout: this.pipelines[d.kernel]!.layout,
        entries: d.bindings.map((b) => {
          const buffer = this.buffers[b.buffer]!;
          const offset = b.offset + (b.perStep !== undefined ? k * b.perStep : 0);
          return { binding: b.binding, resource: { buffer, offset, ...(b.size !== undefined ? { size: b.size } : {}) } };
        }),
      });
      this.cache.set(key, bg);
    }
    return bg;
  }

  /** Prebuilds every bind group the sampling loop will use, so none is created while encoding. */
  prebuild(): void {
    this.plan.prologue.dispatches.forEach((d, j) => this.get(-1, j, d, 0));
    this.plan.stepBody.forEach((body, k) => this.plan.bodies[body]!.dispatches.forEach((d, j) => this.get(body, j, d, k)));
  }
}
