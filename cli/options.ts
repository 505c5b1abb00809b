/** Options shared by several verbs, and parsers that turn bad flag values into DittoErrors. */
import { Option } from 'commander';
import { DittoError } from '../core/errors.ts';

export function backendOption(): Option {
  return new Option('--backend <name>', "Dawn backend (vulkan, metal, d3d12, opengl, …); default: Dawn's choice");
}

export function parseIntFlag(flag: string, value: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^-?\d+$/.test(value.trim())) throw new DittoError('E_USAGE', `${flag} expects an integer, got '${value}'`);
  const n = Number(value);
  if (n < min || n > max) throw new DittoError('E_USAGE', `${flag} must be between ${min} and ${max}, got ${n}`);
  return n;
}

export function parseFloatFlag(flag: string, value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new DittoError('E_USAGE', `${flag} expects a number, got '${value}'`);
  return n;
}
