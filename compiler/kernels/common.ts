/**
 * Helpers shared by the kernel families: cache keys, binding declarations, number literals,
 * activation functions, dispatch folding and binding-size checks.
 */
import { DittoError } from '../../core/errors.ts';
import type { AdapterCaps, ElemType, KernelBinding } from './types.ts';

/** JSON with object keys sorted, so equal configs serialise identically whatever their key order. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
}

/** `family:{canonical config}`; the config carries every input to the emitter. */
export function cacheKey(family: string, config: unknown): string {
  return `${family}:${canonicalJson(config)}`;
}

/** A WGSL f32 literal that round-trips the JS number through f32 (always has a decimal point). */
export function f32Lit(x: number): string {
  if (Number.isNaN(x) || !Number.isFinite(x)) {
    throw new DittoError('E_INTERNAL', `cannot write ${x} as a WGSL f32 constant`);
  }
  const f = Math.fround(x);
  let s = String(f);
  if (!/[.eE]/.test(s)) s += '.0';
  return s.includes('e') || s.includes('E') ? `${s}f` : s;
}

/** WGSL declarations for `bindings`, in order, in group 0. Uniforms are `array<vec4<f32>, n>`. */
export function declareBindings(bindings: readonly KernelBinding[], ident: (name: string) => string = (n) => n): string {
  return bindings
    .map((b, i) => {
      const id = ident(b.name);
      if (b.access === 'uniform') {
        return `struct U_${b.name} { v: array<vec4<f32>, ${Math.max(1, Math.ceil(b.elements / 4))}> }\n` +
          `@group(0) @binding(${i}) var<uniform> ${id}: U_${b.name};`;
      }
      return `@group(0) @binding(${i}) var<storage, ${b.access}> ${id}: array<${b.elemType}>;`;
    })
    .join('\n');
}

/** `enable` directives needed by the element types used. */
export function enables(types: readonly ElemType[], subgroups = false): string {
  const lines: string[] = [];
  if (types.includes('f16')) lines.push('enable f16;');
  if (subgroups) lines.push('enable subgroups;');
  return lines.length ? lines.join('\n') + '\n' : '';
}

/** WGSL activation helpers (tanh-approximated GELU as in DiT's MLP, SiLU). */
export const ACTIVATIONS_WGSL = `fn silu(x: f32) -> f32 { return x / (1.0 + exp(-x)); }
fn gelu_tanh(x: f32) -> f32 {
  // tanh written through exp with a clamp: WGSL tanh of large |u| is not guaranteed finite everywhere.
  let u = clamp(0.7978845608028654 * (x + 0.044715 * x * x * x), -15.0, 15.0);
  let e = exp(2.0 * u);
  return 0.5 * x * (1.0 + (e - 1.0) / (e + 1.0));
}`;

/**
 * Splits a 1-D workgroup count over x and y when it exceeds the per-dimension limit. Kernels
 * recover the linear workgroup index as `wid.x + wid.y * dispatchX` and guard the tail.
 */
export function fold1d(groups: number, max: number): [number, number, number] {
  if (groups <= max) return [Math.max(1, groups), 1, 1];
  const y = Math.ceil(groups / max);
  if (y > max) throw new DittoError('E_GPU', `a kernel needs ${groups} workgroups, more than this adapter can dispatch (${max}² )`);
  return [Math.ceil(groups / y), y, 1];
}

/** Throws E_GPU naming the tensor when a binding exceeds the adapter's storage binding size. */
export function checkBindingSizes(family: string, bindings: readonly KernelBinding[], caps: AdapterCaps): void {
  for (const b of bindings) {
    if (b.access === 'uniform') continue;
    const bytes = b.elements * (b.elemType === 'f16' ? 2 : 4);
    if (bytes > caps.maxStorageBufferBindingSize) {
      throw new DittoError(
        'E_GPU',
        `${family} kernel: tensor '${b.name}' needs ${bytes} bytes in one binding, but this adapter allows at most ` +
          `${caps.maxStorageBufferBindingSize} (maxStorageBufferBindingSize); use a smaller batch or an f16 plan`,
      );
    }
  }
}

export function assertPositiveInts(family: string, fields: Record<string, number>): void {
  for (const [k, v] of Object.entries(fields)) {
    if (!Number.isInteger(v) || v < 1) throw new DittoError('E_INTERNAL', `${family}: ${k} must be a positive integer, got ${v}`);
  }
}

export function assertNonNegInts(family: string, fields: Record<string, number>): void {
  for (const [k, v] of Object.entries(fields)) {
    if (!Number.isInteger(v) || v < 0) throw new DittoError('E_INTERNAL', `${family}: ${k} must be a non-negative integer, got ${v}`);
  }
}

export function ceilDiv(a: number, b: number): number {
  return Math.ceil(a / b);
}
