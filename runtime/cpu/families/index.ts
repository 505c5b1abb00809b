/**
 * The CPU definition of every kernel family, by the family name a plan's kernels carry. A family
 * added to compiler/kernels gets its CPU definition here; a plan with a family this table lacks is
 * an E_PLAN naming it.
 */
import { DittoError } from '../../../core/errors.ts';
import { attention } from './attention.ts';
import { conv2d } from './conv2d.ts';
import { dynamicDecide } from './dynamic.ts';
import { elementwise } from './elementwise.ts';
import { labelEmbed, timestepEmbed, unpatchify, upsampleNearest } from './gather.ts';
import { lowpass } from './lowpass.ts';
import { matmul } from './matmul.ts';
import { groupNorm, layernormModulate } from './norms.ts';
import { tokenRows } from './tokenRows.ts';
import type { CpuKernel, Elements } from './types.ts';

export type { Elements } from './types.ts';

const FAMILIES: Record<string, CpuKernel> = {
  matmul: matmul as CpuKernel,
  conv2d: conv2d as CpuKernel,
  layernorm_modulate: layernormModulate as CpuKernel,
  group_norm: groupNorm as CpuKernel,
  attention: attention as CpuKernel,
  elementwise: elementwise as CpuKernel,
  timestep_embed: timestepEmbed as CpuKernel,
  label_embed: labelEmbed as CpuKernel,
  unpatchify: unpatchify as CpuKernel,
  upsample_nearest: upsampleNearest as CpuKernel,
  dynamic_decide: dynamicDecide as CpuKernel,
  token_rows: tokenRows as CpuKernel,
  lowpass: lowpass as CpuKernel,
};

export function cpuKernel(family: string): (config: unknown, bindings: Elements[]) => void {
  const k = FAMILIES[family];
  if (!k) throw new DittoError('E_PLAN', `the CPU plan interpreter has no definition of kernel family '${family}' (known: ${Object.keys(FAMILIES).join(', ')})`);
  return k as (config: unknown, bindings: Elements[]) => void;
}
