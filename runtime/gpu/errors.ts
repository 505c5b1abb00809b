/**
 * Turns Dawn's asynchronous error reporting into DittoErrors: out-of-memory at buffer creation,
 * validation errors (a bad shader, a binding mismatch) and device loss each get a message that says
 * what ditto was doing when it happened.
 */
import { DittoError } from '../../core/errors.ts';
import { awaitGpu } from '../device.ts';

/** Runs `fn` inside out-of-memory and validation error scopes and rethrows what they caught. */
export async function withGpuErrors<T>(device: GPUDevice, what: string, fn: () => T | Promise<T>): Promise<T> {
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  let result: T;
  try {
    // An async fn keeps the scopes open until it settles (a cancellable sampling loop).
    result = await fn();
  } finally {
    const validation = await awaitGpu(device.popErrorScope());
    const oom = await awaitGpu(device.popErrorScope());
    if (oom) throw new DittoError('E_GPU', `out of GPU memory while ${what}: ${oom.message}. Try a smaller --batch or --f16.`);
    if (validation) throw new DittoError('E_GPU', `the GPU rejected ${what}: ${validation.message.trim()}`);
  }
  return result;
}

/** Resolves with a DittoError when the device is lost, so a run can race against it. */
export function watchDeviceLoss(device: GPUDevice): Promise<never> {
  return device.lost.then((info) => {
    throw new DittoError('E_GPU', `the GPU device was lost (${info.reason}): ${info.message || 'no detail'}`);
  });
}

/** Errors Dawn raised outside any error scope, per device, since the last check. */
const uncaptured = new WeakMap<GPUDevice, string[]>();

/**
 * Collects the device's uncaptured errors (a validation error in work no scope covered), which Dawn
 * would otherwise only print: throwIfUncaptured turns them into a failed run. Called once per
 * device by createGpu.
 */
export function recordUncapturedErrors(device: GPUDevice): void {
  const list: string[] = [];
  uncaptured.set(device, list);
  const record = (ev: Event) => {
    const err = (ev as GPUUncapturedErrorEvent).error;
    list.push(err?.message?.trim() || 'unknown GPU error');
  };
  device.onuncapturederror = record;
}

/** Throws E_GPU when the device raised an error no scope caught since the last call. */
export function throwIfUncaptured(device: GPUDevice, what: string): void {
  const list = uncaptured.get(device);
  if (!list || list.length === 0) return;
  const first = list[0]!;
  const more = list.length - 1;
  list.length = 0;
  throw new DittoError('E_GPU', `the GPU reported an error before ${what}, so the result cannot be trusted: ${first.split('\n')[0]}${more > 0 ? ` (and ${more} more)` : ''}`);
}
