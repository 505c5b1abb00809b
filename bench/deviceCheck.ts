/**
 * The device check (`npm run device-check -- --out DIR [--quick]`, through bench/device-check/run.sh,
 * which brings the Vulkan loader where it is missing): everything worth knowing about a GPU machine,
 * in one run that fits a short lease, written to DIR/device-check.md and .json.
 *
 *  1. machine: CPU, memory, Node, the NVIDIA driver (nvidia-smi, when there is one), the loader;
 *  2. adapter: `ditto info` with the toggles in effect, and what two toggles change (the features
 *     without vulkan_enable_f16_on_nvidia, and with allow_unsafe_apis, e.g. subgroup matrices);
 *  3. kernels: the kernel microbenchmarks at DiT-S/B/XL shapes against this adapter's measured FMA
 *     peak and copy bandwidth (bench/kernels.ts);
 *  4. schedules: DiT-XL/2 with random weights, 256 px, 50 DDPM steps, CFG 1.5 — no cache,
 *     ebcache_table, fora(N=3), taylorseer — interleaved (bench/schedules.ts), measured against
 *     predicted speed-up, then one profiled run of each plan (GPU time per kernel family).
 *
 * `--quick` runs the same sections at tiny sizes (the kernels of a width-64 DiT, a 2-block DiT on an 8×8
 * latent), which is how the tests run it on lavapipe. Every section catches its own failure, the
 * report is rewritten after each one (a lease that ends early still leaves what was measured), and
 * the process exits 1 when any section failed.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { DittoError, isDittoError } from '../core/errors.ts';
import { writeFileAtomic } from '../core/files.ts';
import { PACKAGE_ROOT } from '../core/packageRoot.ts';
import { graphWeights } from '../compiler/ir/graph.ts';
import { openModel } from '../compiler/compileSource.ts';
import { createGpu, dawnVersion, type AdapterReport, type GpuContext } from '../runtime/device.ts';
import { resolveToggles } from '../runtime/dawnToggles.ts';
import { randomWeights } from '../runtime/weights/index.ts';
import { infoJson } from '../cli/commands/info.ts';
import { dittoVersion } from '../cli/version.ts';
import { DIT_SIZES, type DitSize } from './kernelCases.ts';
import { benchKernelCases, kernelsReport, measurePeak, type KernelResult, type Peak } from './kernels.ts';
import { runScheduleBench, type ScheduleBenchResult } from './schedules.ts';
import { renderMarkdown, reportJson, type Report, type Section } from './report.ts';
import { runIfMain } from './scriptMain.ts';

export interface CheckSize {
  mode: 'full' | 'quick';
  kernelSizes: readonly DitSize[];
  kernelBudgetMs: number;
  model: string;
  set?: Record<string, number>;
  steps: number;
  cfgScale: number;
  schedules: string[];
  runs: number;
  /** Sections start only while the run is within this many seconds. */
  budgetSeconds: number;
}

export const FULL: CheckSize = {
  mode: 'full',
  kernelSizes: DIT_SIZES,
  kernelBudgetMs: 300,
  model: 'DiT-XL/2',
  steps: 50,
  cfgScale: 1.5,
  schedules: ['ebcache_table', 'fora(N=3)', 'taylorseer'],
  runs: 3,
  budgetSeconds: 420,
};

export const QUICK: CheckSize = {
  ...FULL,
  mode: 'quick',
  // A DiT of width 64 (one head of 64) at the bench's 2 × 256 tokens: every kernel family, in seconds.
  kernelSizes: [{ name: 'tiny', hidden: 64, heads: 1 }],
  kernelBudgetMs: 20,
  set: { depth: 2, hidden: 64, heads: 4, latent: 8, classes: 10 },
  runs: 2,
  budgetSeconds: 240,
};

type Status = 'ok' | 'failed' | 'skipped';

interface SectionRecord {
  name: string;
  status: Status;
  seconds: number;
  note?: string;
}

interface ToggleProbe {
  label: string;
  toggles: string[];
  features?: string[];
  gained?: string[];
  lost?: string[];
  subgroupMatrixConfigs?: unknown;
  error?: string;
}

export interface DeviceCheckState {
  size: CheckSize;
  command: string;
  /** performance.now() at the start, and the date. */
  started: number;
  date: string;
  records: SectionRecord[];
  machine?: Record<string, string | number>;
  info?: Record<string, unknown>;
  probes?: ToggleProbe[];
  peak?: Peak;
  kernels?: KernelResult[];
  schedules?: ScheduleBenchResult;
}

const MODEL_FILE = path.join(PACKAGE_ROOT, 'models', 'dit.ditto');
const REPORT_BASE = 'device-check';

function firstLine(s: string): string {
  return s.split('\n')[0]!.trim();
}

function tryCommand(cmd: string, args: string[]): string | undefined {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 15_000 });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

function machineFacts(): Record<string, string | number> {
  const nvidia = tryCommand('nvidia-smi', ['--query-gpu=name,driver_version,memory.total,clocks.max.sm', '--format=csv,noheader']);
  return {
    CPU: `${cpus()[0]?.model ?? 'unknown'} × ${availableParallelism()}`,
    'memory (GiB)': Number((totalmem() / 2 ** 30).toFixed(1)),
    'load average at start': loadavg().map((x) => x.toFixed(2)).join(', '),
    'NVIDIA GPU (nvidia-smi)': nvidia ?? 'none found',
    node: process.versions.node,
    'webgpu (dawn.node)': dawnVersion(),
    ditto: dittoVersion(),
    'Vulkan loader': process.env.DITTO_BROUGHT_LOADER ? `brought along: ${process.env.DITTO_BROUGHT_LOADER}` : "the system's",
    VK_DRIVER_FILES: process.env.VK_DRIVER_FILES ?? process.env.VK_ICD_FILENAMES ?? '(loader default)',
  };
}

/** The file of a shared library this process has loaded (Linux), e.g. which libvulkan Dawn opened. */
function loadedLibrary(stem: string): string | undefined {
  try {
    return readFileSync('/proc/self/maps', 'utf8').split('\n').map((l) => l.split(/\s+/)[5] ?? '').find((f) => path.basename(f).startsWith(stem));
  } catch {
    return undefined;
  }
}

/** Opens an adapter with other toggles and says which features they add or remove. */
async function probeToggles(label: string, toggles: string[], base: GpuContext): Promise<ToggleProbe> {
  try {
    const gpu = await createGpu({ toggles });
    const features = gpu.report.features;
    const info = gpu.adapter.info as GPUAdapterInfo & { subgroupMatrixConfigs?: unknown };
    const configs = info.subgroupMatrixConfigs;
    gpu.device.destroy();
    return {
      label, toggles, features,
      gained: features.filter((f) => !base.report.features.includes(f)),
      lost: base.report.features.filter((f) => !features.includes(f)),
      ...(configs ? { subgroupMatrixConfigs: JSON.parse(JSON.stringify(configs)) as unknown } : {}),
    };
  } catch (e) {
    return { label, toggles, error: firstLine((e as Error).message) };
  }
}

/** The user's toggles with `name` replaced by `spec` (a probe must not contradict them). */
function withToggle(user: readonly string[], name: string, spec: string): string[] {
  return [...user.filter((t) => t.split('=')[0] !== name), spec];
}

function schedulesSections(r: ScheduleBenchResult, size: CheckSize): Section[] {
  const sections: Section[] = [{
    title: `${r.model}: cache schedules (${size.steps} DDPM steps, CFG ${size.cfgScale}, random weights)`,
    text: `Median of ${size.runs} interleaved run(s) per plan, one image (batch 2 under CFG), caps '${r.caps}'. ` +
      'Predicted: the calibrated cost model (kernel times measured on this adapter on the search\'s probe plans, not on these plans; docs/bench.md); realised = measured / predicted speed-up; roofline: the plan\'s compile-time cost model. PSNR and relative L2 are against the no-cache output from the same noise ' +
      '(latents: PSNR against their own range). Host share: encode-and-submit time per step over the step\'s wall time.',
    table: {
      columns: ['plan', 's / image', 'min', 'max', 'speed-up', 'predicted', 'realised', 'roofline', 'realised (roofline)', 'FLOPs ratio', 'PSNR dB', 'rel. L2', 'dispatches', 'host share', 'warm-up s'],
      rows: r.rows.map((row) => [row.name, row.perImage.median, row.perImage.min, row.perImage.max, row.speedup, row.predictedSpeedup, row.realised, row.rooflineSpeedup, row.realisedRoofline,
        row.flopsRatio, row.fidelity.psnr, row.fidelity.relativeL2, row.dispatches, row.hostShare, row.warmUpSeconds]),
    },
  }];
  const profiled = r.rows.filter((row) => row.profile);
  if (profiled.length) {
    const families = [...new Set(profiled.flatMap((row) => row.profile!.byFamily.map((f) => f.name)))];
    const ms = (row: (typeof profiled)[number], family: string) => row.profile!.byFamily.find((f) => f.name === family)?.ms ?? 0;
    families.sort((a, b) => ms(profiled[0]!, b) - ms(profiled[0]!, a));
    sections.push({
      title: 'GPU time per kernel family (one profiled run of each plan, ms)',
      text: 'Timestamp queries around every dispatch (each in its own pass, so the total is above the timed runs\' wall time). ' +
        'Share = the family\'s part of that plan\'s kernel time.',
      table: {
        columns: ['family', ...profiled.flatMap((row) => [row.name, 'share'])],
        rows: [
          ...families.map((f) => [f, ...profiled.flatMap((row) => [ms(row, f), ms(row, f) / row.profile!.totalMs])]),
          ['total', ...profiled.flatMap((row) => [row.profile!.totalMs, 1])],
        ],
      },
    });
  }
  return sections;
}

export function deviceCheckReport(s: DeviceCheckState, complete: boolean): Report {
  const adapter = (s.info?.['adapter'] as { name?: string } | undefined)?.name ?? 'no adapter';
  const sections: Section[] = [{
    title: 'Sections',
    text: complete ? undefined : '**Incomplete**: the check was still running (or was stopped) when this was written.',
    table: { columns: ['section', 'status', 'seconds', 'note'], rows: s.records.map((r) => [r.name, r.status, r.seconds, r.note ?? '']) },
  }];
  if (s.machine) sections.push({ title: 'Machine', table: { columns: ['fact', 'value'], rows: Object.entries(s.machine).map(([k, v]) => [k, v]) } });
  if (s.info) {
    const a = s.info['adapter'] as { features: string[]; limits: Record<string, number>; backend: string; vendor: string; architecture: string; subgroupMinSize: number; subgroupMaxSize: number };
    const t = s.info['toggles'] as { enabled: string[]; disabled: string[] };
    sections.push({
      title: 'Adapter (ditto info)',
      text: `Backend ${a.backend}, vendor ${a.vendor || '—'}, architecture ${a.architecture || '—'}, subgroups ${a.subgroupMinSize}..${a.subgroupMaxSize}. ` +
        `Dawn toggles on: ${t.enabled.join(', ') || '—'}; off: ${t.disabled.join(', ') || '—'}.\n\nFeatures: ${a.features.join(', ')}.`,
      table: { columns: ['limit', 'value'], rows: Object.entries(a.limits).map(([k, v]) => [k, v]) },
    });
  }
  if (s.probes?.length) {
    sections.push({
      title: 'What the toggles change',
      text: 'The same adapter opened again with other toggles; features gained and lost against ditto\'s default device above.',
      table: {
        columns: ['device', 'toggles', 'gained', 'lost', 'subgroup-matrix configs'],
        rows: s.probes.map((p) => [p.label, p.toggles.join(' '), p.error ? `error: ${p.error}` : p.gained!.join(', ') || '—', p.lost?.join(', ') || '—',
          p.subgroupMatrixConfigs ? JSON.stringify(p.subgroupMatrixConfigs) : '—']),
      },
    });
  }
  if (s.peak && s.kernels && s.info) {
    sections.push(...kernelsReport(s.info['adapter'] as AdapterReport, s.peak, s.kernels, {}).sections.map((k) => ({ ...k, title: `Kernels: ${k.title}` })));
  }
  if (s.schedules) sections.push(...schedulesSections(s.schedules, s.size));
  return {
    title: `Device check on ${adapter}`,
    meta: {
      date: s.date,
      command: s.command,
      mode: s.size.mode === 'quick' ? 'quick (tiny sizes)' : 'full',
      status: complete ? (s.records.every((r) => r.status === 'ok') ? 'complete, every section ok' : 'complete, with failed or skipped sections') : 'incomplete',
      'wall time (s)': Number(((performance.now() - s.started) / 1000).toFixed(1)),
    },
    sections,
    data: { size: s.size, records: s.records, machine: s.machine, info: s.info, probes: s.probes, peak: s.peak, kernels: s.kernels,
      schedules: s.schedules ? { ...s.schedules, graph: undefined } : undefined },
  };
}

export interface DeviceCheckOptions {
  out: string;
  size: CheckSize;
  toggles: string[];
  command: string;
  log?: (line: string) => void;
}

/** Runs every section; returns true when all of them passed. */
export async function runDeviceCheck(opts: DeviceCheckOptions): Promise<{ ok: boolean; md: string; json: string }> {
  const { size } = opts;
  const md = path.join(opts.out, `${REPORT_BASE}.md`);
  const json = path.join(opts.out, `${REPORT_BASE}.json`);
  const logFile = path.join(opts.out, `${REPORT_BASE}.log`);
  const log = (line: string) => {
    (opts.log ?? ((l: string) => process.stderr.write(l + '\n')))(line);
    appendFileSync(logFile, line + '\n');
  };
  const state: DeviceCheckState = { size, command: opts.command, started: performance.now(), date: new Date().toISOString().slice(0, 10), records: [] };
  writeFileAtomic(logFile, '');
  const write = (complete: boolean) => {
    const r = deviceCheckReport(state, complete);
    writeFileAtomic(md, renderMarkdown(r));
    writeFileAtomic(json, reportJson(r));
  };
  const elapsed = () => (performance.now() - state.started) / 1000;
  let gpu: GpuContext | undefined;

  /** `timed` sections start only within the time budget; the machine and adapter facts always run. */
  const section = async (name: string, needsGpu: boolean, body: () => Promise<string | void>, timed = true) => {
    const t0 = performance.now();
    const record = (status: Status, note?: string) => {
      state.records.push({ name, status, seconds: (performance.now() - t0) / 1000, ...(note ? { note } : {}) });
      log(`[${name}] ${status}${note ? `: ${note}` : ''} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
      write(false);
    };
    if (needsGpu && !gpu) return record('skipped', 'no device');
    if (timed && elapsed() > size.budgetSeconds) return record('skipped', `time budget of ${size.budgetSeconds} s spent`);
    log(`[${name}] started at ${elapsed().toFixed(0)} s`);
    try {
      const note = await body();
      record('ok', note || undefined);
    } catch (e) {
      const message = isDittoError(e) ? `${e.code}: ${e.message}` : (e as Error).stack ?? String(e);
      record('failed', firstLine(message));
      log(message);
    }
  };

  await section('machine', false, async () => {
    state.machine = machineFacts();
  }, false);
  await section('adapter', false, async () => {
    gpu = await createGpu({ toggles: opts.toggles });
    state.info = infoJson(gpu);
    if (state.machine) state.machine['Vulkan loader in use'] = loadedLibrary('libvulkan.so') ?? 'unknown (no /proc/self/maps)';
    log(`adapter: ${gpu.report.name} (${gpu.report.backend}); features ${gpu.report.features.join(', ')}`);
    state.probes = [
      await probeToggles('without vulkan_enable_f16_on_nvidia', withToggle(opts.toggles, 'vulkan_enable_f16_on_nvidia', 'vulkan_enable_f16_on_nvidia=off'), gpu),
      await probeToggles('with allow_unsafe_apis', withToggle(opts.toggles, 'allow_unsafe_apis', 'allow_unsafe_apis'), gpu),
    ];
    return gpu.report.name;
  }, false);
  await section('kernels', true, async () => {
    state.peak = await measurePeak(gpu!, size.kernelBudgetMs * 3);
    log(`peak: ${state.peak.gflops.toFixed(1)} GFLOP/s FMA, ${state.peak.gbps.toFixed(2)} GB/s copy`);
    const results = await benchKernelCases(gpu!, size.kernelSizes, size.kernelBudgetMs, null, log);
    state.kernels = results;
    return `${results.length} kernels, FMA peak ${state.peak.gflops.toFixed(1)} GFLOP/s`;
  });
  await section('schedules', true, async () => {
    const source = openModel(MODEL_FILE, { model: size.model, set: size.set, batch: 1, cfg: true });
    const { graph } = source;
    log(`random weights for ${size.model}${size.set ? ` (${JSON.stringify(size.set)})` : ''}: ${graphWeights(graph).length} tensors`);
    const weights = randomWeights(graphWeights(graph), 0);
    state.schedules = await runScheduleBench({
      modelFile: MODEL_FILE, source, model: size.model, ...(size.set ? { set: size.set } : {}),
      weights, weightsFile: 'random weights (seed 0)',
      schedules: size.schedules, steps: size.steps, images: 1, runs: size.runs, cfgScale: size.cfgScale, sampler: 'ddpm', seed: 0,
      gpu: gpu!, profile: gpu!.hasTimestamps, onProgress: log,
    });
    return state.schedules.rows.map((r) => `${r.name} ×${r.speedup.toFixed(2)} (predicted ×${r.predictedSpeedup.toFixed(2)})`).join(', ');
  });
  gpu?.device.destroy();
  write(true);
  return { ok: state.records.every((r) => r.status === 'ok'), md, json };
}

/** Checks --out before anything slow: a folder (made if missing), never an existing file. */
export function prepareOutDir(out: string | undefined): string {
  if (!out || !out.trim()) throw new DittoError('E_USAGE', 'device-check: give --out DIR (the folder for device-check.md, .json and .log)');
  if (existsSync(out) && !statSync(out).isDirectory()) throw new DittoError('E_USAGE', `--out '${out}' is a file; name a folder`);
  try {
    mkdirSync(out, { recursive: true });
  } catch (e) {
    throw new DittoError('E_IO', `--out '${out}': cannot make the folder: ${(e as Error).message}`);
  }
  return out;
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        out: { type: 'string' },
        quick: { type: 'boolean', default: false },
        runs: { type: 'string' },
        'budget-s': { type: 'string' },
        'dawn-toggle': { type: 'string', multiple: true },
      },
    }));
  } catch (e) {
    throw new DittoError('E_USAGE', `device-check: ${(e as Error).message}; usage: npm run device-check -- --out DIR [--quick] [--runs N] [--budget-s S] [--dawn-toggle NAME]…`);
  }
  const size: CheckSize = { ...(values.quick ? QUICK : FULL) };
  if (values.runs !== undefined) {
    size.runs = Number(values.runs);
    if (!Number.isInteger(size.runs) || size.runs < 1 || size.runs > 100) throw new DittoError('E_USAGE', `--runs must be a whole number from 1 to 100, got '${values.runs}'`);
  }
  if (values['budget-s'] !== undefined) {
    size.budgetSeconds = Number(values['budget-s']);
    if (!(size.budgetSeconds > 0)) throw new DittoError('E_USAGE', `--budget-s must be a positive number of seconds, got '${values['budget-s']}'`);
  }
  const toggles = values['dawn-toggle'] ?? [];
  resolveToggles(toggles);
  const out = prepareOutDir(values.out);
  const command = `npm run device-check -- ${process.argv.slice(2).join(' ')}`.trim();
  const r = await runDeviceCheck({ out, size, toggles, command });
  process.stdout.write(`wrote ${r.md}, ${r.json} and ${path.join(out, `${REPORT_BASE}.log`)}${r.ok ? '' : ' (some sections failed: see the report)'}\n`);
  if (!r.ok) throw new DittoError('E_CHECK', 'the device check finished with failed or skipped sections (the report says which)');
}

runIfMain(import.meta.url, main);
