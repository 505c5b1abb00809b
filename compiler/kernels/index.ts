/**
 * The WGSL kernel families. Each family: a pure selector (problem, adapter caps) → config, an
 * emitter config → EmittedKernel (WGSL, entry point, workgroup size, bindings, dispatch), and a
 * cache key (equal configs → equal keys). See docs/kernels.md.
 */
export * from './types.ts';
export { cacheKey, canonicalJson, f32Lit } from './common.ts';
export * from './matmul.ts';
export * from './layernorm.ts';
export * from './attention.ts';
export * from './elementwise.ts';
export * from './embeddings.ts';
export * from './conv2d.ts';
export * from './groupnorm.ts';
export * from './upsample.ts';
export * from './dynamic.ts';
export * from './calibrate.ts';
export * from './tokenRows.ts';
export * from './lowpass.ts';
