/** Buffer creation, upload and readback. */
import { DittoError } from '../../core/errors.ts';
import { awaitGpu } from '../device.ts';
import { throwIfUncaptured } from './errors.ts';

export const STORAGE = 0x80 | 0x08 | 0x04; // STORAGE | COPY_DST | COPY_SRC (numeric so it works before globals exist)

export function createStorage(device: GPUDevice, bytes: number, label: string): GPUBuffer {
  // WebGPU requires sizes in multiples of 4; a zero-sized binding is invalid, so keep at least 16 bytes.
  const size = Math.max(16, Math.ceil(bytes / 16) * 16);
  return device.createBuffer({ size, usage: STORAGE, label });
}

export function upload(device: GPUDevice, buffer: GPUBuffer, data: Float32Array | Int32Array | Uint32Array | Uint16Array, offsetBytes = 0): void {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  // writeBuffer needs a multiple of 4 bytes.
  if (bytes.byteLength % 4 === 0) device.queue.writeBuffer(buffer, offsetBytes, bytes);
  else {
    const padded = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
    padded.set(bytes);
    device.queue.writeBuffer(buffer, offsetBytes, padded);
  }
}

/**
 * Copies `bytes` bytes at `offset` of `src` back to the host. Every result leaves the GPU through
 * here, so this is where a run that went wrong fails: the copy runs in error scopes (a copy that
 * does not fit its buffer would otherwise read back zeros), and any error the device raised
 * outside a scope since the last check fails the readback too.
 */
export async function readBack(device: GPUDevice, src: GPUBuffer, bytes: number, offset = 0): Promise<ArrayBuffer> {
  const size = Math.ceil(bytes / 4) * 4;
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  const staging = device.createBuffer({ size, usage: 0x01 | 0x08, label: 'readback' }); // MAP_READ | COPY_DST
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(src, offset, staging, 0, size);
  device.queue.submit([enc.finish()]);
  const validation = await awaitGpu(device.popErrorScope());
  const oom = await awaitGpu(device.popErrorScope());
  if (validation || oom) {
    staging.destroy();
    throw new DittoError('E_GPU', `the GPU rejected reading back ${bytes} bytes of '${src.label}' (${src.size} bytes): ${(validation ?? oom)!.message.trim().split('\n')[0]}`);
  }
  throwIfUncaptured(device, `reading back '${src.label}'`);
  await awaitGpu(staging.mapAsync(0x0001)); // GPUMapMode.READ
  const copy = staging.getMappedRange().slice(0, bytes);
  staging.unmap();
  staging.destroy();
  return copy;
}
