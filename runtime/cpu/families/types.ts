/**
 * What a kernel family's CPU definition receives: the dispatch's bindings as element arrays (in the
 * kernel's binding order, each starting at the binding's offset; f16 storage already widened to
 * f32), and the family's config from the plan. A family computes its whole problem; how the GPU
 * splits it over workgroups (the config's variant) does not change what it computes, so every
 * variant of a family shares its CPU definition.
 */
export type Elements = Float32Array | Int32Array;

export type CpuKernel = (config: never, bindings: Elements[]) => void;

/** f32 rounding after each operation, as the GPU's f32 arithmetic does. */
export const f = Math.fround;

export function silu(x: number): number {
  return f(x / f(1 + f(Math.exp(-x))));
}

/** The GELU-tanh the kernels use (common.ts ACTIVATIONS_WGSL): tanh through exp with a clamp. */
export function geluTanh(x: number): number {
  const u = Math.min(15, Math.max(-15, f(0.7978845608028654 * f(x + f(0.044715 * f(f(x * x) * x))))));
  const e = f(Math.exp(f(2 * u)));
  return f(f(0.5 * x) * f(1 + f(f(e - 1) / f(e + 1))));
}
