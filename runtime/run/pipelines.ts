/**
 * One compute pipeline per distinct plan kernel, created asynchronously and in parallel (and reused
 * by later plans on the same device), with an explicit
 * bind group layout built from the kernel's binding list (so bindings the shader happens not to
 * use still bind). Shader compile errors become DittoErrors naming the kernel.
 */
import { DittoError } from '../../core/errors.ts';
import type { Plan, PlanKernel } from '../../compiler/plan/types.ts';
import { awaitGpu } from '../device.ts';

export interface KernelPipeline {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
}

const COMPUTE = 0x4; // GPUShaderStage.COMPUTE

function bufferType(access: PlanKernel['bindings'][number]['access']): GPUBufferBindingType {
  return access === 'uniform' ? 'uniform' : access === 'read' ? 'read-only-storage' : 'storage';
}

async function createOne(device: GPUDevice, k: PlanKernel): Promise<KernelPipeline> {
  const module = device.createShaderModule({ code: k.wgsl, label: `${k.family}:${k.key}` });
  const info = await awaitGpu(module.getCompilationInfo());
  const errors = info.messages.filter((m) => m.type === 'error');
  if (errors.length) {
    throw new DittoError('E_GPU', `kernel ${k.id} (${k.family}) does not compile on this adapter: ${errors.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join('; ')}`);
  }
  const layout = device.createBindGroupLayout({
    label: `${k.family}:${k.id}`,
    entries: k.bindings.map((b, binding) => ({ binding, visibility: COMPUTE, buffer: { type: bufferType(b.access) } })),
  });
  try {
    const pipeline = await awaitGpu(device.createComputePipelineAsync({
      label: `${k.family}:${k.id}`,
      layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: k.entryPoint },
    }));
    return { pipeline, layout };
  } catch (e) {
    throw new DittoError('E_GPU', `kernel ${k.id} (${k.family}) could not be built into a pipeline: ${(e as Error).message}`);
  }
}

/**
 * Pipelines already built on each device, by kernel (entry point, binding list, WGSL text). Plans of
 * one model share most kernels (a schedule's plan and the no-cache plan, the rows of `ditto eval`,
 * the playground's two grids), and building a pipeline is the slow part of setting a plan up on
 * an adapter that compiles shaders on the CPU: a second plan on the same device reuses them. A
 * pipeline holds no buffers, so sharing it between plans is safe; the map goes with the device.
 */
const built = new WeakMap<GPUDevice, Map<string, Promise<KernelPipeline>>>();

function kernelKey(k: PlanKernel): string {
  return `${k.entryPoint}\n${k.bindings.map((b) => bufferType(b.access)).join(',')}\n${k.wgsl}`;
}

/** Pipelines for every kernel: one per distinct kernel, reused from earlier plans on this device. */
export async function createPipelines(device: GPUDevice, plan: Pick<Plan, 'kernels'>): Promise<KernelPipeline[]> {
  let cache = built.get(device);
  if (!cache) built.set(device, (cache = new Map()));
  return Promise.all(plan.kernels.map((k) => {
    const key = kernelKey(k);
    let p = cache.get(key);
    if (!p) {
      p = createOne(device, k);
      // A failure is not kept: the next plan tries again (and reports its own error).
      p.catch(() => cache.delete(key));
      cache.set(key, p);
    }
    return p;
  }));
}
