/**
 * One compute pipeline per plan kernel, created asynchronously and in parallel, with an explicit
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

/** Pipelines for every kernel, deduplicated by WGSL text + entry point. */
export async function createPipelines(device: GPUDevice, plan: Pick<Plan, 'kernels'>): Promise<KernelPipeline[]> {
  const byText = new Map<string, Promise<KernelPipeline>>();
  return Promise.all(plan.kernels.map((k) => {
    const key = `${k.entryPoint}\n${k.wgsl}`;
    let p = byText.get(key);
    if (!p) {
      p = createOne(device, k);
      byText.set(key, p);
    }
    return p;
  }));
}
