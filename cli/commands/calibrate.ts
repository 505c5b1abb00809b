/**
 * `ditto calibrate MODEL.ditto --weights W --steps N --budget R -o out.ditto`: EB-Cache's table
 * calibration on the CPU reference executor (evaluation/calibrate, docs/calibrate.md). Thin: flags,
 * weights, then the library; prints the summary.
 */
import { Option, type Command } from 'commander';
import { DittoError } from '../../core/errors.ts';
import { graphWeights } from '../../compiler/ir/graph.ts';
import { parseSetFlag } from '../../compiler/frontend.ts';
import { openModel } from '../../compiler/compileSource.ts';
import { loadWeights, validateWeights } from '../../runtime/weights/index.ts';
import { calibrate, DEFAULT_SAMPLES, DEFAULT_THRESHOLD, validateCalibrateOptions, type CalibrateOptions, type CalibrateResult } from '../../evaluation/calibrate/index.ts';
import { addModelOptions, samplerOption } from '../modelArgs.ts';
import { checkOutputPath, parseFloatFlag, parseIntFlag } from '../options.ts';
import { refuseOverwrite } from '../../core/outputGuard.ts';

interface CalibrateFlags {
  model?: string;
  set?: string;
  weights: string;
  steps: string;
  budget: string;
  samples: string;
  sampler: 'ddpm' | 'ddim';
  cfg?: string;
  guide: 'first3' | 'all';
  seed: string;
  delta?: string;
  epsScale?: string;
  output: string;
  json?: boolean;
  allowNonFiniteWeights?: boolean;
}

function parseDelta(text: string): { a: number; b: number } {
  const parts = text.split(',').map((s) => s.trim());
  if (parts.length !== 2) throw new DittoError('E_USAGE', `--delta expects two numbers a,b (δ(t) = a + b·t), got '${text}'`);
  return { a: parseFloatFlag('--delta a', parts[0]!), b: parseFloatFlag('--delta b', parts[1]!) };
}

export function formatCalibrateSummary(r: CalibrateResult): string {
  return [
    `wrote ${r.scheduleFile} (schedule ${r.scheduleName}) and ${r.tableFile} (int64[${r.table.length}], count-down order)`,
    `states (sampling order, k = 0..${r.table.length - 1}): ${r.table.join('')}`,
    `FLOPs ratio ${r.flopsRatio.toFixed(4)} (budget ${r.budget}), predicted ${r.predictedSpeedup.toFixed(2)}x`,
    `δ(t) = ${Number(r.delta.a.toPrecision(4))} + ${Number(r.delta.b.toPrecision(4))}·t (scale ${Number(r.scale.toPrecision(4))}); ${r.passes} passes, ${r.evaluations} model evaluations`,
    '',
  ].join('\n');
}

export function registerCalibrate(program: Command): void {
  const cmd = program
    .command('calibrate')
    .description('build an EB-Cache table schedule for a model by calibration (CPU reference executor), meeting a FLOPs budget')
    .argument('<model-file>', 'the .ditto file declaring the model');
  addModelOptions(cmd)
    .requiredOption('--weights <file>', 'model weights (.safetensors or PyTorch .pt)')
    .requiredOption('--steps <n>', 'sampling steps of the table')
    .requiredOption('--budget <ratio>', 'target FLOPs ratio, cached / all-compute, in (0, 1] (e.g. 0.68)')
    .option('--samples <n>', 'calibration samples (seeded noise and classes)', String(DEFAULT_SAMPLES))
    .addOption(samplerOption())
    .option('--cfg <scale>', 'classifier-free guidance scale (absent: no CFG); use the one you will sample with')
    .addOption(new Option('--guide <channels>', 'CFG-guided eps channels').choices(['first3', 'all']).default('first3'))
    .option('--seed <n>', 'seed of the calibration noise and classes', '0')
    .option('--delta <a,b>', `shape of the threshold δ(t) = a + b·t before the budget scales it (default ${DEFAULT_THRESHOLD.a},${DEFAULT_THRESHOLD.b})`)
    .option('--eps-scale <expr>', "an eps_scale expression for the emitted schedule, e.g. '1 / 0.965'")
    .option('--json', 'print the result as JSON')
    .option('--allow-non-finite-weights', 'load weights that hold NaN or Inf (refused by default: the outputs would be NaN)')
    .requiredOption('-o, --output <file.ditto>', 'the schedule to write; the table goes next to it as .npy')
    .action((file: string, flags: CalibrateFlags) => {
      const opts: CalibrateOptions = {
        modelFile: file,
        ...(flags.model !== undefined ? { model: flags.model } : {}),
        ...(flags.set !== undefined ? { set: parseSetFlag(flags.set) } : {}),
        weights: new Map(),
        steps: parseIntFlag('--steps', flags.steps, 1, 1000),
        budget: parseFloatFlag('--budget', flags.budget),
        samples: parseIntFlag('--samples', flags.samples, 1, 4096),
        sampler: flags.sampler,
        guide: flags.guide,
        seed: parseIntFlag('--seed', flags.seed, 0, 2 ** 32 - 1),
        ...(flags.cfg !== undefined ? { cfgScale: parseFloatFlag('--cfg', flags.cfg) } : {}),
        ...(flags.delta !== undefined ? { threshold: parseDelta(flags.delta) } : {}),
        ...(flags.epsScale !== undefined ? { epsScale: flags.epsScale } : {}),
        output: flags.output,
      };
      // Cheap checks first: flags, then the model, then the (possibly large) weights.
      validateCalibrateOptions(opts);
      checkOutputPath('-o', flags.output);
      // The table is written next to the schedule, with the extension .npy.
      refuseOverwrite([{ label: '-o', file: flags.output }, { label: 'the table next to -o', file: flags.output.replace(/\.ditto$/i, '.npy') }],
        [{ label: 'the model file', file }, { label: '--weights', file: flags.weights }]);
      const { graph } = openModel(file, { model: opts.model, set: opts.set, batch: 1, cfg: false });
      const weights = loadWeights(flags.weights, 'weights', { allowNonFinite: flags.allowNonFiniteWeights === true });
      validateWeights(weights, graphWeights(graph));
      // Calibration of a real model takes long on the CPU: show progress on a terminal only.
      const progress = process.stderr.isTTY && !flags.json ? (line: string) => process.stderr.write(`calibrate: ${line}\n`) : undefined;
      const r = calibrate({ ...opts, weights: weights.tensors, ...(progress ? { progress } : {}) });
      process.stdout.write(flags.json ? JSON.stringify(r, null, 2) + '\n' : formatCalibrateSummary(r));
    });
}
