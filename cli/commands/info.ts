/** `ditto info`: the adapter, backend, features, limits, Dawn toggles and versions. */
import type { Command } from 'commander';
import { createGpu, dawnVersion, type GpuContext } from '../../runtime/device.ts';
import { dawnHasToggle, USEFUL_TOGGLES } from '../../runtime/dawnToggles.ts';
import { dittoVersion } from '../version.ts';
import { addDeviceOptions, deviceOptionsOf, type DeviceFlags } from '../options.ts';

const FEATURES_OF_INTEREST = ['shader-f16', 'subgroups', 'timestamp-query', 'chromium-experimental-subgroup-matrix'];

export interface ToggleRow {
  name: string;
  state: 'on' | 'off' | 'default';
  /** ditto's own setting when the user chose none. */
  automatic: 'on' | 'off' | null;
  /** Whether the loaded Dawn build knows the name (null: its binary could not be read). */
  inThisDawn: boolean | null;
  why: string;
}

/** The useful toggles with their state on this device, then any other toggle the user set. */
export function toggleRows(gpu: GpuContext): ToggleRow[] {
  const { enabled, disabled } = gpu.toggles;
  const state = (n: string): ToggleRow['state'] => (enabled.includes(n) ? 'on' : disabled.includes(n) ? 'off' : 'default');
  const known = USEFUL_TOGGLES.map((t) => t.name);
  const others = [...enabled, ...disabled].filter((n) => !known.includes(n));
  return [
    ...USEFUL_TOGGLES.map((t) => ({ name: t.name, state: state(t.name), automatic: t.automatic ?? null, inThisDawn: dawnHasToggle(t.name), why: t.why })),
    ...others.map((n) => ({ name: n, state: state(n), automatic: null, inThisDawn: dawnHasToggle(n), why: '' })),
  ];
}

export function infoJson(gpu: GpuContext): Record<string, unknown> {
  return {
    adapter: gpu.report,
    toggles: { ...gpu.toggles, rows: toggleRows(gpu) },
    versions: { ditto: dittoVersion(), node: process.versions.node, dawn: dawnVersion() },
  };
}

export function infoText(gpu: GpuContext): string {
  const r = gpu.report;
  const rows = toggleRows(gpu);
  const width = Math.max(...rows.map((t) => t.name.length));
  const stateText = (t: ToggleRow) =>
    (t.state === 'default' ? "Dawn's default" : t.state + (t.automatic === t.state ? ' (ditto)' : '')) + (t.inThisDawn === false ? ', not in this Dawn build' : '');
  const lines = [
    `adapter      ${r.name}`,
    `vendor       ${r.vendor || '-'}   architecture ${r.architecture || '-'}${r.isSoftware ? '   (software adapter)' : ''}`,
    `backend      ${r.backend}`,
    `features     ${FEATURES_OF_INTEREST.map((f) => `${f} ${r.features.includes(f) ? 'yes' : 'no'}`).join(', ')}`,
    `subgroups    size ${r.subgroupMinSize}..${r.subgroupMaxSize}`,
    'limits',
    ...Object.entries(r.limits).map(([k, v]) => `  ${k.padEnd(36)} ${v}`),
    `dawn toggles on: ${gpu.toggles.enabled.join(', ') || '-'}; off: ${gpu.toggles.disabled.join(', ') || '-'}   (--dawn-toggle NAME, NAME=off)`,
    ...rows.map((t) => `  ${t.name.padEnd(width)}  ${stateText(t).padEnd(22)} ${t.why}`),
    `versions     ditto ${dittoVersion()}, node ${process.versions.node}, dawn (npm webgpu) ${dawnVersion()}`,
  ];
  return lines.join('\n') + '\n';
}

export function registerInfo(program: Command): void {
  const command = program
    .command('info')
    .description('show the WebGPU adapter, its features and limits, the Dawn toggles, and the versions of ditto, Node and Dawn')
    .option('--json', 'print a JSON object instead of text');
  addDeviceOptions(command).action(async (opts: { json?: boolean } & DeviceFlags) => {
    const gpu = await createGpu(deviceOptionsOf(opts));
    process.stdout.write(opts.json ? JSON.stringify(infoJson(gpu), null, 2) + '\n' : infoText(gpu));
    gpu.device.destroy();
  });
}
