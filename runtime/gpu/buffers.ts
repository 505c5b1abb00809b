/** Buffer creation, upload and readback. */
import { awaitGpu } from '../device.ts';

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

/** Copies `bytes` bytes at `offset` of `src` back to the host. */
export async function readBack(device: GPUDevice, src: GPUBuffer, bytes: number, offset = 0): Promise<ArrayBuffer> {
  const size = Math.ceil(bytes / 4) * 4;
  const staging = device.createBuffer({ size, usage: 0x01 | 0x08, label: 'readback' }); // MAP_READ | COPY_DST
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(src, offset, staging, 0, size);
  device.queue.submit([enc.finish()]);
  await awaitGpu(staging.mapAsync(0x0001)); // GPUMapMode.READ
  const copy = staging.getMappedRange().slice(0, bytes);
  staging.unmap();
  staging.destroy();
  return copy;
}
