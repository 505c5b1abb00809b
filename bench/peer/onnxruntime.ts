/**
 * Loads onnxruntime-node lazily (a devDependency: only the benchmarks need it) and opens sessions
 * on a named execution provider. The npm package bundles the CPU and WebGPU (Dawn) providers for
 * linux/x64; its postinstall only fetches CUDA binaries, which ditto does not use (package.json's
 * allowScripts turns it off).
 */
import { createRequire } from 'node:module';
import { DittoError } from '../../core/errors.ts';

export type Ort = typeof import('onnxruntime-node');
export type OrtSession = import('onnxruntime-node').InferenceSession;
export type OrtEp = 'cpu' | 'webgpu';

const require = createRequire(import.meta.url);
let cached: Ort | undefined;

export function loadOrt(): Ort {
  if (cached) return cached;
  try {
    cached = require('onnxruntime-node') as Ort;
  } catch (e) {
    throw new DittoError('E_IO', `onnxruntime-node is not installed (it is a devDependency: run npm ci): ${(e as Error).message}`);
  }
  return cached;
}

/** Version and providers bundled with this install, for the report. */
export function ortInfo(): { version: string; bundled: string[] } {
  const ort = loadOrt();
  const list = (ort as unknown as { listSupportedBackends?: () => { name: string; bundled: boolean }[] }).listSupportedBackends?.() ?? [];
  return { version: ort.env.versions?.node ?? 'unknown', bundled: list.filter((b) => b.bundled).map((b) => b.name) };
}

export interface OrtSessionOptions {
  /** CPU threads for intra-op parallelism (default: ORT's choice, all cores). */
  threads?: number;
}

/** Opens `model` (a path or the bytes of an ONNX file) on one execution provider. */
export async function openSession(model: string | Uint8Array, ep: OrtEp, opts: OrtSessionOptions = {}): Promise<OrtSession> {
  const ort = loadOrt();
  const { bundled } = ortInfo();
  if (!bundled.includes(ep)) throw new DittoError('E_GPU', `this onnxruntime-node build has no '${ep}' execution provider (bundled: ${bundled.join(', ')})`);
  const options: import('onnxruntime-node').InferenceSession.SessionOptions = {
    executionProviders: [ep],
    graphOptimizationLevel: 'all',
    ...(opts.threads ? { intraOpNumThreads: opts.threads } : {}),
  };
  try {
    return typeof model === 'string' ? await ort.InferenceSession.create(model, options) : await ort.InferenceSession.create(model, options);
  } catch (e) {
    throw new DittoError('E_GPU', `onnxruntime-node could not open the model on '${ep}': ${(e as Error).message}`);
  }
}
