/**
 * `ditto search MODEL --weights W --steps N --sampler ddpm|ddim --cfg S --budget 2.5x|40ms`: cache
 * schedules found under a speed budget (docs/search.md). Thin: evaluation/search/ does the work.
 */
import { Option, type Command } from 'commander';
import cliProgress from 'cli-progress';
import { DittoError } from '../../core/errors.ts';
import { refuseOverwrite } from '../../core/outputGuard.ts';
import { parseSetFlag } from '../../compiler/frontend.ts';
import { loadWeights } from '../../runtime/weights/index.ts';
import { parseBudget, runSearch, type SearchProgress, type SearchResult } from '../../evaluation/search/index.ts';
import { STATE_FILE } from '../../evaluation/search/state.ts';
import { readKernelTimesFile } from '../../compiler/plan/kernelTimes.ts';
import { addModelOptions, samplerOption } from '../modelArgs.ts';
import { addDeviceOptions, deviceOptionsOf, parseFloatFlag, parseIntFlag, type DeviceFlags } from '../options.ts';

interface SearchFlags extends DeviceFlags {
  model?: string;
  set?: string;
  weights?: string;
  steps: string;
  sampler: string;
  cfg?: string;
  budget?: string;
  outDir: string;
  name?: string;
  seed: string;
  samples: string;
  batch: string;
  population: string;
  generations: string;
  finalists: string;
  finalistSamples: string;
  epsScales?: string;
  kernelTimes?: string;
  device: string;
  resume?: boolean;
  json?: boolean;
}

/** A bar with the time left on a terminal; lines at most every 30 s otherwise (nohup, CI logs). */
function searchProgress(json: boolean): { update: (p: SearchProgress) => void; stop: () => void } {
  if (process.stderr.isTTY !== true) {
    let last = 0;
    let phase = '';
    const t0 = performance.now();
    let phaseStart = t0;
    return {
      update: (p) => {
        const now = performance.now();
        if (p.phase !== phase) {
          phase = p.phase;
          phaseStart = now;
        } else if (now - last < 30_000 && p.done < p.total) return;
        last = now;
        const el = (now - phaseStart) / 1000;
        const left = p.done > 0 && p.done < p.total ? `, about ${Math.round((el / p.done) * (p.total - p.done))} s left` : '';
        process.stderr.write(`${p.phase} ${p.done}/${p.total}${p.note ? `  ${p.note}` : ''}  ${Math.round(el)} s${left}\n`);
      },
      stop: () => undefined,
    };
  }
  if (json) return { update: () => undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar({ format: '{phase} |{bar}| {value}/{total}  {note}  elapsed {duration_formatted}, left {eta_formatted}', stream: process.stderr, hideCursor: true, etaBuffer: 20 }, cliProgress.Presets.shades_classic);
  let phase = '';
  return {
    update: (p) => {
      if (p.phase !== phase) {
        if (phase) bar.stop();
        phase = p.phase;
        bar.start(p.total, p.done, { phase: p.phase.padEnd(9), note: p.note ?? '' });
      } else {
        bar.setTotal(p.total);
        bar.update(p.done, { note: p.note ?? '' });
      }
    },
    stop: () => {
      if (phase) bar.stop();
      phase = '';
    },
  };
}

function printResult(r: SearchResult, json: boolean): void {
  if (json) {
    process.stdout.write(JSON.stringify({ ...r, kernelTimes: { ...r.kernelTimes, bySignature: undefined, signatures: Object.keys(r.kernelTimes.bySignature).length } }, null, 2) + '\n');
    return;
  }
  const L: string[] = [];
  L.push(`${r.evaluations} candidates; no cache ${r.baselineMsPerImage.toFixed(2)} ms per image, budget ${r.budgetMsPerImage.toFixed(2)} ms per image (${(r.baselineMsPerImage / r.budgetMsPerImage).toFixed(2)}x); kernel times: ${r.kernelTimes.source} on ${r.kernelTimes.adapter}`);
  L.push('front (predicted speed-up, fidelity loss, PSNR):');
  for (const f of r.front) L.push(`  ${f.name.padEnd(24)} ${f.speedup.toFixed(2)}x  loss ${f.loss.toExponential(2)}  PSNR ${f.psnr === null ? '∞' : f.psnr.toFixed(1)} dB`);
  if (r.finalists.length) {
    L.push('finalists (predicted vs measured speed-up, FID at small N):');
    for (const f of r.finalists) {
      const fid = f.fid !== null ? `FID ${f.fid.toFixed(2)} (Δ ${f.deltaFid! >= 0 ? '+' : ''}${f.deltaFid!.toFixed(2)})` : 'FID —';
      L.push(`  ${f.name.padEnd(24)} predicted ${f.speedup.toFixed(2)}x (roofline ${f.rooflineSpeedup.toFixed(2)}x), measured ${Number.isFinite(f.realisedSpeedup) ? f.realisedSpeedup.toFixed(2) + 'x' : '—'}  ${fid}  eps ${f.epsScale}`);
    }
  }
  if (r.chosen) L.push(`chosen: ${r.chosen.file} (${r.chosen.speedup.toFixed(2)}x predicted)`);
  L.push(`wrote ${r.files.join(', ')}`);
  process.stdout.write(L.join('\n') + '\n');
}

export function registerSearch(program: Command): void {
  const command = addModelOptions(program
    .command('search')
    .description('search cache schedules under a speed budget: the Pareto front of speed (measured kernel times) against fidelity to no cache, and the chosen schedule as .ditto')
    .argument('<model-file>', 'the .ditto file declaring the model (a pixel-space DiT, e.g. models/fmnist.ditto)'))
    .option('--weights <file>', 'model weights (.safetensors or PyTorch .pt)')
    .option('--budget <b>', 'a speed-up (2.5x) or a time per image (40ms) the schedule must meet')
    .option('--steps <n>', 'sampling steps', '50')
    .addOption(samplerOption())
    .option('--cfg <scale>', 'classifier-free guidance scale (absent: no CFG)')
    .option('--out-dir <dir>', 'the front (front.json, front.svg, front.ditto), the chosen NAME.ditto and the search state', 'ditto-search')
    .option('--name <id>', 'name of the chosen schedule (default search_<sampler>)')
    .option('--seed <n>', 'seed of the search and of the calibration noise', '0')
    .option('--samples <n>', 'calibration samples the fidelity is measured on', '10')
    .option('--batch <n>', 'images per run the speed is predicted and measured at', '50')
    .option('--population <n>', 'candidates kept per generation', '12')
    .option('--generations <n>', 'generations of the evolutionary search', '8')
    .option('--finalists <n>', 'best candidates under the budget given a small-N evaluation (0: choose by fidelity alone)', '3')
    .option('--finalist-samples <n>', 'samples of the finalists\' evaluation (FID, measured speed-up)', '200')
    .option('--eps-scales <list>', "eps_scale expressions tried on the finalists, separated by ';' (default: '1;1 / 0.965' under ddpm, '1' under ddim)")
    .option('--kernel-times <file>', 'reuse the kernel times of an earlier search (its front.json) instead of measuring them')
    .addOption(new Option('--device <kind>', 'gpu: plans on WebGPU, kernel times measured; reference: the CPU reference executor with the roofline cost (slow, for tests)').choices(['gpu', 'reference']).default('gpu'))
    .option('--resume', `continue the search saved in OUT-DIR/${STATE_FILE}`)
    .option('--json', 'print the result as JSON');
  addDeviceOptions(command).action(async (file: string, flags: SearchFlags) => {
    if (!flags.outDir.trim()) throw new DittoError('E_USAGE', '--out-dir must name a folder');
    const name = flags.name ?? `search_${flags.sampler}`;
    const writes = (base: string) => base === `${name}.ditto` || base === 'front.json' || base === 'front.svg' || base === 'front.ditto' || base === STATE_FILE;
    refuseOverwrite([], [{ label: 'the model file', file }, { label: '--weights', file: flags.weights }, { label: '--kernel-times', file: flags.kernelTimes }], [{ label: '--out-dir', dir: flags.outDir, writes }]);
    if (flags.weights === undefined) throw new DittoError('E_USAGE', '--weights is required');
    if (flags.budget === undefined) throw new DittoError('E_USAGE', '--budget is required: a speed-up such as 2.5x or a time per image such as 40ms');
    const budget = parseBudget(flags.budget);
    const int = (flag: string, v: string, min: number, max?: number) => parseIntFlag(flag, v, min, max);
    const opts = {
      steps: int('--steps', flags.steps, 2, 1000),
      seed: int('--seed', flags.seed, 0, 2 ** 32 - 1),
      samples: int('--samples', flags.samples, 2, 4096),
      batch: int('--batch', flags.batch, 1, 4096),
      population: int('--population', flags.population, 2, 1000),
      generations: int('--generations', flags.generations, 0, 10_000),
      finalists: int('--finalists', flags.finalists, 0, 100),
      finalistSamples: int('--finalist-samples', flags.finalistSamples, 2, 1_000_000),
    };
    const cfgScale = flags.cfg !== undefined ? parseFloatFlag('--cfg', flags.cfg) : undefined;
    const epsScales = flags.epsScales !== undefined ? flags.epsScales.split(';').map((s) => s.trim()) : undefined;
    const deviceOptions = deviceOptionsOf(flags);
    const kernelTimes = flags.kernelTimes !== undefined ? readKernelTimesFile(flags.kernelTimes, '--kernel-times') : undefined;
    const weights = loadWeights(flags.weights).tensors;
    const bar = searchProgress(flags.json === true);
    let result: SearchResult;
    try {
      result = await runSearch({
        modelFile: file, ...(flags.model ? { model: flags.model } : {}), ...(flags.set ? { set: parseSetFlag(flags.set) } : {}),
        weights, weightsFile: flags.weights, sampler: flags.sampler as 'ddpm' | 'ddim', ...(cfgScale !== undefined ? { cfgScale } : {}), budget, outDir: flags.outDir,
        name, ...opts, ...(epsScales ? { epsScales } : {}), ...(kernelTimes ? { kernelTimes } : {}),
        device: flags.device as 'gpu' | 'reference', deviceOptions, resume: flags.resume === true, onProgress: bar.update,
      });
    } finally {
      bar.stop();
    }
    printResult(result, flags.json === true);
  });
}
