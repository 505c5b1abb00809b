/**
 * A minimal way to run one emitted kernel: for the kernel tests and microbenchmarks, not the plan
 * executor. Creates buffers from host arrays, dispatches once (or N times), reads back every
 * read_write binding. Pipelines are cached per device by the kernel's cache key.
 */
import { DittoError } from '../core/errors.ts';
import { awaitGpu, type GpuContext } from './device.ts';
import type { EmittedKernel, KernelBinding } from '../compiler/kernels/types.ts';
import { f16ToF32, f32ToF16Bits } from './weights/dtypes.ts';

export type HostArray = Float32Array | Int32Array;

const pipelines = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();

/** Rounds every value to the nearest f16 (what an f16 binding will hold), as f32. */
export function roundToF16(a: Float32Array): Float32Array {
  return f16ToF32(Uint16Array.from(a, f32ToF16Bits));
}

function bytesFor(b: KernelBinding, data: HostArray): ArrayBuffer {
  if (b.access === 'uniform') {
    const out = new Float32Array(Math.max(4, Math.ceil(data.length / 4) * 4));
    out.set(data);
    return out.buffer;
  }
  if (b.elemType === 'f16') {
    const out = new Uint16Array(Math.ceil(data.length / 2) * 2);
    for (let i = 0; i < data.length; i++) out[i] = f32ToF16Bits(data[i]!);
    return out.buffer;
  }
  if (b.elemType === 'i32' && !(data instanceof Int32Array)) throw new DittoError('E_INTERNAL', `binding '${b.name}' is i32 but got a Float32Array`);
  if (b.elemType === 'f32' && !(data instanceof Float32Array)) throw new DittoError('E_INTERNAL', `binding '${b.name}' is f32 but got an Int32Array`);
  return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
}

function bindingLayout(b: KernelBinding, i: number): GPUBindGroupLayoutEntry {
  const type = b.access === 'uniform' ? 'uniform' : b.access === 'read' ? 'read-only-storage' : 'storage';
  return { binding: i, visibility: GPUShaderStage.COMPUTE, buffer: { type } };
}

async function popErrors(device: GPUDevice, what: string): Promise<void> {
  const err = await awaitGpu(device.popErrorScope());
  if (err) throw new DittoError('E_GPU', `${what}: ${err.message}`);
}

/** The compiled pipeline of a kernel, created once per device and cache key. */
export async function kernelPipeline(gpu: GpuContext, kernel: EmittedKernel): Promise<GPUComputePipeline> {
  let cache = pipelines.get(gpu.device);
  if (!cache) pipelines.set(gpu.device, (cache = new Map()));
  const hit = cache.get(kernel.key);
  if (hit) return hit;
  const { device } = gpu;
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ code: kernel.wgsl, label: kernel.family });
  const layout = device.createPipelineLayout({
    bindGroupLayouts: [device.createBindGroupLayout({ entries: kernel.bindings.map(bindingLayout) })],
  });
  const pipeline = device.createComputePipeline({ layout, compute: { module, entryPoint: kernel.entryPoint }, label: kernel.family });
  await popErrors(device, `the ${kernel.family} kernel failed to compile`);
  cache.set(kernel.key, pipeline);
  return pipeline;
}

/** Compiler messages (errors and warnings) for a kernel's WGSL. */
export async function shaderMessages(gpu: GpuContext, kernel: EmittedKernel): Promise<{ type: string; message: string; line: number }[]> {
  const module = gpu.device.createShaderModule({ code: kernel.wgsl });
  const info = await awaitGpu(module.getCompilationInfo());
  return info.messages.map((m) => ({ type: m.type, message: m.message, line: m.lineNum }));
}

interface Prepared {
  bindGroup: GPUBindGroup;
  pipeline: GPUComputePipeline;
  buffers: GPUBuffer[];
}

async function prepare(gpu: GpuContext, kernel: EmittedKernel, data: Record<string, HostArray>): Promise<Prepared> {
  const { device } = gpu;
  const pipeline = await kernelPipeline(gpu, kernel);
  const buffers = kernel.bindings.map((b) => {
    const d = data[b.name];
    if (!d) throw new DittoError('E_INTERNAL', `${kernel.family}: no data for binding '${b.name}'`);
    if (d.length < b.elements) throw new DittoError('E_INTERNAL', `${kernel.family}: binding '${b.name}' needs ${b.elements} elements, got ${d.length}`);
    const bytes = bytesFor(b, d);
    const usage = b.access === 'uniform' ? GPUBufferUsage.UNIFORM : GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC;
    const size = Math.max(16, Math.ceil(bytes.byteLength / 4) * 4);
    const buf = device.createBuffer({ size, usage: usage | GPUBufferUsage.COPY_DST, label: b.name });
    device.queue.writeBuffer(buf, 0, bytes, 0, bytes.byteLength);
    return buf;
  });
  const bindGroup = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
  });
  return { bindGroup, pipeline, buffers };
}

function encodeDispatches(gpu: GpuContext, kernel: EmittedKernel, p: Prepared, times: number): GPUCommandEncoder {
  const enc = gpu.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(p.pipeline);
  pass.setBindGroup(0, p.bindGroup);
  for (let i = 0; i < times; i++) pass.dispatchWorkgroups(...kernel.dispatch);
  pass.end();
  return enc;
}

/**
 * Runs `kernel` once on `data` (one array per binding, by name; read_write arrays are the initial
 * contents) and returns the final contents of every read_write binding, as f32 (or i32).
 */
export async function runKernel(gpu: GpuContext, kernel: EmittedKernel, data: Record<string, HostArray>): Promise<Record<string, HostArray>> {
  const { device } = gpu;
  device.pushErrorScope('validation');
  const p = await prepare(gpu, kernel, data);
  const enc = encodeDispatches(gpu, kernel, p, 1);
  const reads: { b: KernelBinding; staging: GPUBuffer }[] = [];
  kernel.bindings.forEach((b, i) => {
    if (b.access !== 'read_write') return;
    const src = p.buffers[i]!;
    const staging = device.createBuffer({ size: src.size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    enc.copyBufferToBuffer(src, 0, staging, 0, src.size);
    reads.push({ b, staging });
  });
  device.queue.submit([enc.finish()]);
  await popErrors(device, `running the ${kernel.family} kernel failed`);
  const out: Record<string, HostArray> = Object.create(null) as Record<string, HostArray>;
  for (const { b, staging } of reads) {
    await awaitGpu(staging.mapAsync(GPUMapMode.READ));
    const raw = staging.getMappedRange().slice(0);
    staging.unmap();
    staging.destroy();
    const n = data[b.name]!.length;
    if (b.elemType === 'f16') {
      const h = new Uint16Array(raw);
      out[b.name] = f16ToF32(h.subarray(0, n));
    } else {
      out[b.name] = b.elemType === 'i32' ? new Int32Array(raw, 0, n) : new Float32Array(raw, 0, n);
    }
  }
  for (const b of p.buffers) b.destroy();
  return out;
}

/**
 * Microbenchmark: dispatches the kernel `iterations` times in one pass (after one warm-up run that
 * also pays the JIT) and returns wall milliseconds per dispatch.
 */
export async function timeKernel(gpu: GpuContext, kernel: EmittedKernel, data: Record<string, HostArray>, iterations = 10): Promise<number> {
  const { device } = gpu;
  const p = await prepare(gpu, kernel, data);
  device.queue.submit([encodeDispatches(gpu, kernel, p, 1).finish()]);
  await awaitGpu(device.queue.onSubmittedWorkDone());
  const t0 = performance.now();
  device.queue.submit([encodeDispatches(gpu, kernel, p, iterations).finish()]);
  await awaitGpu(device.queue.onSubmittedWorkDone());
  const ms = (performance.now() - t0) / iterations;
  for (const b of p.buffers) b.destroy();
  return ms;
}

/** Deterministic values in [-0.5, 0.5) (benchmarks and tuning: data does not change the speed, and equal data lets outputs be compared). */
export function benchValues(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2 ** 32 - 0.5;
  }
  return a;
}

/** One deterministic array per binding of `k` (i32 bindings zero). */
export function benchData(k: EmittedKernel): Record<string, HostArray> {
  const d: Record<string, HostArray> = {};
  k.bindings.forEach((b, i) => {
    d[b.name] = b.elemType === 'i32' ? new Int32Array(b.elements) : benchValues(b.elements, i + 1);
  });
  return d;
}
