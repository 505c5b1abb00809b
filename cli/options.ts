/** Options shared by several verbs, and parsers that turn bad flag values into DittoErrors. */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { Option } from 'commander';
import { DittoError } from '../core/errors.ts';
import type { DeviceOptions } from '../runtime/device.ts';
import { resolveToggles } from '../runtime/dawnToggles.ts';

export function backendOption(): Option {
  return new Option('--backend <name>', "Dawn backend (vulkan, metal, d3d12, opengl, …); default: Dawn's choice");
}

export function dawnToggleOption(): Option {
  return new Option('--dawn-toggle <name>', 'turn a Dawn toggle on (NAME) or off (NAME=off); repeatable; ditto info lists the useful ones')
    .argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]);
}

/** `--backend` and `--dawn-toggle`: every verb that opens a GPU takes both. */
export function addDeviceOptions<C extends { addOption(o: Option): C }>(command: C): C {
  return command.addOption(backendOption()).addOption(dawnToggleOption());
}

export interface DeviceFlags {
  backend?: string;
  dawnToggle?: string[];
}

/** The flags as device options; a bad toggle fails here, so call it before any slow work. */
export function deviceOptionsOf(flags: DeviceFlags): DeviceOptions {
  if (flags.dawnToggle?.length) resolveToggles(flags.dawnToggle);
  return { ...(flags.backend ? { backend: flags.backend } : {}), ...(flags.dawnToggle?.length ? { toggles: flags.dawnToggle } : {}) };
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

/**
 * Checks, before any slow work, that `file` can be written: its directory exists and it is not
 * itself a directory. A sampling run must not spend minutes and then fail at the last write.
 */
export function checkOutputPath(flag: string, file: string): void {
  const dir = path.dirname(path.resolve(file));
  let dirStat;
  try {
    dirStat = statSync(dir);
  } catch {
    throw new DittoError('E_USAGE', `${flag} '${file}': the directory '${path.dirname(file)}' does not exist`);
  }
  if (!dirStat.isDirectory()) throw new DittoError('E_USAGE', `${flag} '${file}': '${path.dirname(file)}' is not a directory`);
  if (existsSync(file) && statSync(file).isDirectory()) throw new DittoError('E_USAGE', `${flag} '${file}' is a directory; name a file`);
}
