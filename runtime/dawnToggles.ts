/**
 * Dawn toggles: named switches of Dawn's behaviour (`--dawn-toggle NAME`, `toggles` in the Node
 * API). dawn.node takes them as `create(['enable-dawn-features=a,b', 'disable-dawn-features=c'])`
 * and hands them to the instance, the adapter request and the device request alike.
 *
 * Dawn ignores a toggle name it does not know, silently, and dawn.node offers no list of names. A
 * typo would then change nothing and say nothing, so ditto checks each name against the strings of
 * the dawn.node binary that is loaded: every toggle name is stored there as a NUL-terminated string.
 * That check can only let a non-toggle identifier through (a false "known"), never reject a real
 * toggle of that build; it runs only for names the user gives.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { DittoError } from '../core/errors.ts';

export interface ToggleInfo {
  name: string;
  /** What it changes, for ditto's users. */
  why: string;
  /** Set so by ditto unless the user says otherwise (`NAME=off` / `NAME=on`). */
  automatic?: 'on' | 'off';
}

/** Toggles worth knowing for ditto's work, as `ditto info` lists them. */
export const USEFUL_TOGGLES: readonly ToggleInfo[] = [
  {
    name: 'vulkan_enable_f16_on_nvidia',
    why: "exposes shader-f16 on NVIDIA's Vulkan driver (Dawn hides it there by default); only NVIDIA adapters read it",
    automatic: 'on',
  },
  { name: 'allow_unsafe_apis', why: 'exposes experimental features, e.g. chromium-experimental-subgroup-matrix (tensor cores from WGSL)' },
  { name: 'use_dxc', why: 'D3D12: compile shaders with DXC instead of FXC (DXC is what shader-f16 and subgroups need there)' },
  { name: 'disable_robustness', why: 'no bounds clamping of buffer accesses in shaders: faster kernels, no protection from an out-of-range index' },
  { name: 'disable_workgroup_init', why: 'no zeroing of workgroup memory at each workgroup start' },
  { name: 'skip_validation', why: 'skips Dawn\'s expensive validation of commands (less host time per dispatch)' },
  {
    name: 'timestamp_quantization',
    why: "Dawn's default rounds timestamps to 65.5 µs (a browser's guard against timing attacks); ditto turns it off so that --profile is exact",
    automatic: 'off',
  },
  { name: 'dump_shaders', why: 'prints every WGSL shader and its translation (debugging)' },
];

export const AUTOMATIC_ON = USEFUL_TOGGLES.filter((t) => t.automatic === 'on').map((t) => t.name);
export const AUTOMATIC_OFF = USEFUL_TOGGLES.filter((t) => t.automatic === 'off').map((t) => t.name);

/** The toggles handed to Dawn: the user's choices on top of ditto's automatic ones. */
export interface ToggleSet {
  enabled: string[];
  disabled: string[];
}

const require = createRequire(import.meta.url);
const SPEC = /^([a-z][a-z0-9_]*)(?:=(on|off))?$/;
let binary: Buffer | null | undefined;

/** The dawn.node binary that `webgpu` loads on this platform (its index.js picks it the same way). */
export function dawnBinaryPath(): string | null {
  try {
    const dir = path.dirname(require.resolve('webgpu'));
    const arch = process.platform === 'darwin' ? 'universal' : process.arch;
    return path.join(dir, 'dist', `${process.platform}-${arch}`, 'dawn.node');
  } catch {
    return null;
  }
}

function dawnBinary(): Buffer | null {
  if (binary === undefined) {
    const file = dawnBinaryPath();
    try {
      binary = file ? readFileSync(file) : null;
    } catch {
      binary = null;
    }
  }
  return binary;
}

/** Whether the loaded Dawn build contains the toggle name; null when the binary cannot be read. */
export function dawnHasToggle(name: string): boolean | null {
  const bytes = dawnBinary();
  return bytes ? bytes.indexOf(`\0${name}\0`, 0, 'latin1') >= 0 : null;
}

/** The binary's lower_snake_case strings with an underscore: the pool for "did you mean". */
function vocabulary(): string[] {
  const bytes = dawnBinary();
  if (!bytes) return [];
  return [...bytes.toString('latin1').matchAll(/\0([a-z][a-z0-9_]{1,78}_[a-z0-9]+)(?=\0)/g)].map((m) => m[1]!);
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

function suggestion(name: string): string {
  const pool = [...USEFUL_TOGGLES.map((t) => t.name), ...vocabulary()];
  let best = '';
  let bestD = Infinity;
  for (const c of pool) {
    const d = editDistance(name, c);
    if (d < bestD) [best, bestD] = [c, d];
  }
  return bestD <= Math.max(2, Math.floor(name.length / 4)) ? ` (did you mean '${best}'?)` : '';
}

/**
 * Turns `--dawn-toggle` values (`NAME`, `NAME=on`, `NAME=off`) into the set handed to Dawn, with
 * ditto's automatic settings added where the user did not choose. Bad syntax, a name this Dawn build does not contain,
 * or one name both on and off is an E_USAGE error naming the flag value.
 */
export function resolveToggles(specs: readonly string[] = [], knows: (name: string) => boolean | null = dawnHasToggle): ToggleSet {
  const on = new Set<string>();
  const off = new Set<string>();
  for (const raw of specs) {
    const m = SPEC.exec(raw.trim());
    if (!m) throw new DittoError('E_USAGE', `--dawn-toggle '${raw}': expected NAME, NAME=on or NAME=off, with NAME in lower_snake_case (e.g. allow_unsafe_apis)`);
    const name = m[1]!;
    if (knows(name) === false) {
      throw new DittoError('E_USAGE', `--dawn-toggle '${raw}': this Dawn build (npm webgpu) has no toggle named '${name}'${suggestion(name)}; ditto info lists the useful ones`);
    }
    const target = m[2] === 'off' ? off : on;
    const other = m[2] === 'off' ? on : off;
    if (other.has(name)) throw new DittoError('E_USAGE', `--dawn-toggle: '${name}' is both turned on and turned off`);
    target.add(name);
  }
  for (const name of AUTOMATIC_ON) if (!off.has(name)) on.add(name);
  for (const name of AUTOMATIC_OFF) if (!on.has(name)) off.add(name);
  return { enabled: [...on].sort(), disabled: [...off].sort() };
}

/** The strings dawn.node's `create()` takes for this set. */
export function dawnFlags(toggles: ToggleSet): string[] {
  return [
    ...(toggles.enabled.length ? [`enable-dawn-features=${toggles.enabled.join(',')}`] : []),
    ...(toggles.disabled.length ? [`disable-dawn-features=${toggles.disabled.join(',')}`] : []),
  ];
}
