/**
 * `ditto run plan.json --weights W …`: execute a plan on the GPU (or, with `--device cpu`, on the CPU
 * plan interpreter), with a progress bar on a terminal and a summary (or --json). Pixel-space models write a PNG grid; latent models write latents, or a
 * PNG grid through a VAE decoder on the GPU (`--vae`: drivers/vaeDecoder.ts compiles it, runtime/run/vaeDecode.ts runs it).
 */
import { existsSync } from 'node:fs';
import { Option, type Command } from 'commander';
import cliProgress from 'cli-progress';
import { DittoError } from '../../core/errors.ts';
import type { Tensor } from '../../core/tensor.ts';
import { readTextOrThrow, writeFileAtomic } from '../../core/files.ts';
import { loadPlan, type PlanLoadOptions } from '../../compiler/plan/load.ts';
import type { Plan } from '../../compiler/plan/types.ts';
import { createGpu } from '../../runtime/device.ts';
import { compileCapsFor } from '../../compiler/plan/caps.ts';
import { createRunner, type RunOutput } from '../../runtime/run/runner.ts';
import { runPlanOnCpu, type CpuRunRequest } from '../../runtime/cpu/planInterpreter.ts';
import { planWorkStats } from '../../runtime/run/stats.ts';
import { applyTuningCache } from '../../runtime/tune.ts';
import { loadWeights, writeSafetensors } from '../../runtime/weights/index.ts';
import { firstNonFinite, unravel } from '../../runtime/weights/finite.ts';
import { readNoiseFile } from '../../runtime/noiseFile.ts';
import { encodeGridPng } from '../../runtime/image.ts';
import { decodeLatents } from '../../runtime/run/vaeDecode.ts';
import { DEFAULT_VAE_MODEL, prepareVae } from '../../drivers/vaeDecoder.ts';
import { addDeviceOptions, checkOutputPath, deviceOptionsOf, parseIntFlag, type DeviceFlags } from '../options.ts';
import { refuseOverwrite } from '../../core/outputGuard.ts';
import { fidelityOf, formatRunSummary, runSummary, type RunSummary } from '../runSummary.ts';

interface RunFlags extends DeviceFlags {
  device: 'gpu' | 'cpu';
  weights: string;
  seed: string;
  class?: string;
  out?: string;
  saveLatents?: string;
  noise?: string;
  json?: boolean;
  profile?: boolean;
  checkFinite?: boolean;
  baseline?: string;
  vae?: string;
  vaeModel?: string;
  tuningCache?: string;
  allowEditedPlan?: boolean;
  allowNonFiniteWeights?: boolean;
}

export function readPlanFile(file: string, opts: PlanLoadOptions = {}): Plan {
  return readPlanFileWith(file, (text) => loadPlan(text, opts));
}

/** Reads a plan file through `load`, putting the file's name in front of a format error. */
export function readPlanFileWith<T>(file: string, load: (text: string) => T): T {
  const text = readTextOrThrow(file, 'plan');
  try {
    return load(text);
  } catch (e) {
    if (e instanceof DittoError) throw new DittoError(e.code, `${file}: ${e.message}`, e.span, e.detail);
    throw e;
  }
}

function parseClasses(text: string): number[] {
  return text.split(',').map((s) => parseIntFlag('--class', s.trim(), 0));
}

/** Pixel-space models (1 or 3 image channels) produce pictures directly. */
export function isPixelModel(plan: Plan): boolean {
  const shape = plan.buffers[plan.io.latent]!.shape ?? [];
  return shape[1] === 1 || shape[1] === 3;
}

export function registerRun(program: Command): void {
  const command = program
    .command('run')
    .description('execute a compiled plan on the GPU (or the CPU plan interpreter) and write images or latents')
    .argument('<plan>', 'a plan written by ditto compile')
    .requiredOption('--weights <file>', 'model weights (.safetensors or PyTorch .pt)')
    .addOption(new Option('--device <where>', 'gpu, or cpu: the CPU plan interpreter runs the same dispatches without a GPU (semantics, not speed)').choices(['gpu', 'cpu']).default('gpu'))
    .option('--seed <n>', 'seed of the noise generator', '0')
    .option('--class <ids>', 'class ids, one per image, comma-separated (e.g. 207,360)')
    .option('--out <file.png>', 'write the images as a PNG grid (pixel-space models, or latent models with --vae)')
    .option('--vae <file>', 'decode the latents to images with this VAE (diffusers AutoencoderKL safetensors, e.g. sd-vae-ft-ema) on the GPU')
    .option('--vae-model <name>', `the VAE architecture in models/vae.ditto (default ${DEFAULT_VAE_MODEL})`)
    .option('--save-latents <file>', 'write the final sampler state as safetensors (tensor "latents")')
    .option('--noise <file>', 'use the noise in this safetensors file (x_T and noise) instead of the generator')
    .option('--baseline <plan>', 'also run this plan (e.g. the no-cache one) and report measured vs predicted speed-up and fidelity')
    .option('--profile', 'time every kernel with timestamp queries and print the top kernels')
    .option('--check-finite', 'stop at the first step and node that produces a NaN or Inf')
    .option('--json', 'print the summary as JSON (fields in docs/cli.md)')
    .option('--tuning-cache <file>', 'use the matmul variants `ditto tune --cache` chose on this adapter')
    .option('--allow-non-finite-weights', 'load weights that hold NaN or Inf (refused by default: the outputs would be NaN)')
    .option('--allow-edited-plan', "run a plan whose contents no longer match its hash (edited by hand); every other check still runs");
  addDeviceOptions(command)
    .action(async (planFile: string, flags: RunFlags) => {
      refuseOverwrite([{ label: '--out', file: flags.out }, { label: '--save-latents', file: flags.saveLatents }], [
        { label: 'the plan', file: planFile }, { label: '--baseline', file: flags.baseline }, { label: '--weights', file: flags.weights },
        { label: '--noise', file: flags.noise }, { label: '--vae', file: flags.vae },
      ]);
      const deviceOptions = deviceOptionsOf(flags);
      if (flags.device === 'cpu') refuseGpuFlags(flags);
      const planOpts = { allowEdited: flags.allowEditedPlan === true };
      let plan = readPlanFile(planFile, planOpts);
      let baselinePlan = flags.baseline ? readPlanFile(flags.baseline, planOpts) : undefined;
      if (flags.tuningCache && !existsSync(flags.tuningCache)) throw new DittoError('E_IO', `--tuning-cache '${flags.tuningCache}' does not exist (write one with ditto tune --cache)`);
      const seed = parseIntFlag('--seed', flags.seed, 0, 2 ** 32 - 1);
      const classes = flags.class ? parseClasses(flags.class) : undefined;
      if (flags.out && !flags.out.toLowerCase().endsWith('.png')) throw new DittoError('E_USAGE', `--out must name a .png file, got '${flags.out}'`);
      if (flags.out) checkOutputPath('--out', flags.out);
      if (flags.saveLatents) checkOutputPath('--save-latents', flags.saveLatents);
      if (flags.out && !isPixelModel(plan) && !flags.vae) {
        throw new DittoError('E_USAGE', `model ${plan.model.name} generates ${plan.buffers[plan.io.latent]!.shape?.[1]}-channel latents, not pictures: add --vae VAE.safetensors to decode them, or use --save-latents`);
      }
      if ((flags.vae || flags.vaeModel) && !flags.out) throw new DittoError('E_USAGE', '--vae decodes the latents into the PNG of --out; add --out FILE.png');
      if (flags.vaeModel && !flags.vae) throw new DittoError('E_USAGE', '--vae-model names the architecture of the --vae weight file; add --vae VAE.safetensors');
      if (flags.vae && isPixelModel(plan)) throw new DittoError('E_USAGE', `model ${plan.model.name} generates pictures directly; --vae is for latent models`);
      const finite = { allowNonFinite: flags.allowNonFiniteWeights === true };
      const weights = loadWeights(flags.weights, 'weights', finite);
      const latentShape = [plan.options.batch, ...(plan.buffers[plan.io.latent]!.shape ?? []).slice(1)];
      const noise = flags.noise ? readNoiseFile(flags.noise, latentShape, plan.options.steps, plan.options.sampler === 'ddpm') : undefined;
      if (flags.device === 'cpu') {
        const out = await withProgress(plan, flags, async (onStep) => runOnCpu(plan, weights.tensors, { seed, ...(classes ? { classes } : {}), ...(noise ? { noise } : {}), onStep }));
        refuseNonFinite(out);
        if (flags.saveLatents) writeSafetensors(flags.saveLatents, new Map([['latents', out.latents]]), { plan: plan.hash, seed: String(seed) });
        if (flags.out) writeFileAtomic(flags.out, encodeGridPng(out.latents));
        const summary = runSummary(plan, out, { outputs: outputsOf(flags), adapter: CPU_ADAPTER });
        process.stdout.write(flags.json ? JSON.stringify(summary, null, 2) + '\n' : formatRunSummary(summary));
        return;
      }
      const gpu = await createGpu(deviceOptions);
      if (flags.tuningCache) {
        plan = applyTuningCache(gpu, plan, flags.tuningCache);
        if (baselinePlan) baselinePlan = applyTuningCache(gpu, baselinePlan, flags.tuningCache);
      }
      // The decoder is checked against the latents and its weight file, and compiled, before sampling.
      const vae = flags.vae ? prepareVae(latentShape, loadWeights(flags.vae, 'weights', finite), compileCapsFor(gpu.report), flags.vaeModel ?? DEFAULT_VAE_MODEL) : undefined;
      const runner = await createRunner(plan, weights.tensors, { gpu, weightsFile: flags.weights });
      let out = await withProgress(plan, flags, (onStep) => runner.run({ seed, ...(classes ? { classes } : {}), ...(noise ? { noise } : {}), profile: flags.profile, checkFinite: flags.checkFinite, onStep }));
      let baseline: { plan: Plan; out: RunOutput } | undefined;
      if (baselinePlan) {
        const br = await createRunner(baselinePlan, weights.tensors, { gpu, weightsFile: flags.weights });
        // The plan's first run included the adapter's first-dispatch JIT: warm the baseline's kernels
        // up, then time one run of each, back to back.
        await br.warmUp();
        const b = await br.run({ seed, ...(classes ? { classes } : {}), ...(noise ? { noise } : {}) });
        out = await runner.run({ seed, ...(classes ? { classes } : {}), ...(noise ? { noise } : {}) });
        baseline = { plan: baselinePlan, out: b };
        br.destroy();
      }
      refuseNonFinite(out);
      if (flags.saveLatents) writeSafetensors(flags.saveLatents, new Map([['latents', out.latents]]), { plan: plan.hash, seed: String(seed) });
      let decoded: { model: string; seconds: number } | undefined;
      if (flags.out) {
        let images = out.latents;
        if (vae) {
          const d = await decodeLatents(out.latents, vae, gpu);
          images = d.images;
          decoded = { model: flags.vaeModel ?? DEFAULT_VAE_MODEL, seconds: d.seconds };
        }
        writeFileAtomic(flags.out, encodeGridPng(images));
      }
      const summary: RunSummary = runSummary(plan, out, {
        ...(baseline ? { baseline: { plan: baseline.plan, seconds: baseline.out.seconds, fidelity: fidelityOf(out.latents, baseline.out.latents) } } : {}),
        outputs: outputsOf(flags),
        adapter: gpu.report.name,
        ...(decoded ? { vae: decoded } : {}),
      });
      process.stdout.write(flags.json ? JSON.stringify(summary, null, 2) + '\n' : formatRunSummary(summary));
      runner.destroy();
      gpu.device.destroy();
    });
}

/** What `ditto run --json` reports as the adapter of a CPU run. */
export const CPU_ADAPTER = 'CPU plan interpreter';

/** Flags that need a GPU, refused with `--device cpu` before anything is loaded. */
function refuseGpuFlags(flags: RunFlags): void {
  const gpuOnly: [string, unknown, string][] = [
    ['--profile', flags.profile, 'it times GPU kernels'],
    ['--check-finite', flags.checkFinite, 'it reads back GPU dispatches one by one'],
    ['--baseline', flags.baseline, 'it compares measured speed-ups, which the CPU interpreter does not have (it runs for semantics, not speed)'],
    ['--tuning-cache', flags.tuningCache, 'it picks GPU kernel variants'],
    ['--vae', flags.vae, 'the decoder runs on the GPU; save the latents with --save-latents instead'],
    ['--backend', flags.backend, 'it chooses a GPU backend'],
    ['--dawn-toggle', flags.dawnToggle?.length ? flags.dawnToggle : undefined, 'it configures the GPU'],
  ];
  const given = gpuOnly.filter(([, v]) => v !== undefined && v !== false);
  if (given.length) {
    const [flag, , why] = given[0]!;
    throw new DittoError('E_USAGE', `--device cpu cannot be combined with ${given.map(([f]) => f).join(', ')}: ${flag}: ${why}`);
  }
}

/** A progress bar on a terminal (never with --json) around a run that reports its steps. */
async function withProgress<T>(plan: Plan, flags: RunFlags, run: (onStep: (k: number) => void) => Promise<T>): Promise<T> {
  const bar = !flags.json && process.stderr.isTTY
    ? new cliProgress.SingleBar({ format: 'sampling |{bar}| {value}/{total} steps  {duration_formatted}', stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic)
    : undefined;
  bar?.start(plan.options.steps, 0);
  try {
    return await run((k) => bar?.update(k + 1));
  } finally {
    bar?.stop();
  }
}

/** The plan on the CPU plan interpreter, timed, as the GPU runner reports a run. */
function runOnCpu(plan: Plan, weights: ReadonlyMap<string, Tensor>, req: CpuRunRequest): RunOutput {
  const t0 = performance.now();
  const r = runPlanOnCpu(plan, weights, req);
  const seconds = (performance.now() - t0) / 1000;
  return { latents: r.latents, classes: r.classes, seconds, hostSeconds: seconds, work: planWorkStats(plan), ...(r.dynamic ? { dynamic: r.dynamic } : {}) };
}

/** Exit 0 means the output is right: NaN or Inf latents fail the run, and nothing is written. */
function refuseNonFinite(out: RunOutput): void {
  const bad = firstNonFinite(out.latents);
  if (bad >= 0) {
    throw new DittoError('E_NUMERIC', `the run produced ${(out.latents.data as Float32Array)[bad]} in the latents at [${unravel(bad, out.latents.shape).join(', ')}]; nothing was written. Rerun with --check-finite to find the first step and node that produce it`);
  }
}

function outputsOf(flags: RunFlags): RunSummary['outputs'] {
  return { ...(flags.out ? { png: flags.out } : {}), ...(flags.saveLatents ? { latents: flags.saveLatents } : {}) };
}
