/**
 * Weight files fetched from the page's own origin, with progress, and kept in the browser's Cache
 * Storage so a second visit (or an offline one) reads them locally; parsed by ditto's own
 * safetensors reader.
 */
import { DittoError } from '../../core/errors.ts';
import type { Tensor } from '../../core/tensor.ts';
import { bufferSource } from '../../runtime/weights/byteSource.ts';
import { openSafetensors } from '../../runtime/weights/safetensors.ts';

export const WEIGHTS_CACHE = 'ditto-weights-v1';

async function readWithProgress(res: Response, onProgress: (loaded: number, total: number) => void): Promise<Uint8Array> {
  const total = Number(res.headers.get('content-length') ?? 0);
  if (!res.body) return new Uint8Array(await res.arrayBuffer());
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    loaded += value.length;
    onProgress(loaded, total);
  }
  const out = new Uint8Array(loaded);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The bytes of `url`, from Cache Storage when there, else fetched (and then cached). */
export async function fetchCached(url: string, onProgress: (loaded: number, total: number) => void): Promise<Uint8Array> {
  const cache = 'caches' in globalThis ? await caches.open(WEIGHTS_CACHE) : undefined;
  const hit = await cache?.match(url);
  if (hit) {
    const bytes = new Uint8Array(await hit.arrayBuffer());
    onProgress(bytes.length, bytes.length);
    return bytes;
  }
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new DittoError('E_IO', `cannot fetch '${url}': ${(e as Error).message}`);
  }
  if (!res.ok) throw new DittoError('E_IO', `cannot fetch '${url}': HTTP ${res.status} ${res.statusText}`);
  const bytes = await readWithProgress(res, onProgress);
  // Kept for the next visit (the Response copies the bytes); not waited for: a failed write only
  // means fetching again next time.
  cache?.put(url, new Response(bytes as Uint8Array<ArrayBuffer>, { headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) } })).catch(() => undefined);
  return bytes;
}

export function parseSafetensors(bytes: Uint8Array, name: string): Map<string, Tensor> {
  const f = openSafetensors(bufferSource(bytes, name));
  try {
    return new Map(f.records.map((r) => [r.name, r.load()]));
  } finally {
    f.close();
  }
}
