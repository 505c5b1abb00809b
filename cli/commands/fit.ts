/**
 * `ditto fit teacache|magcache MODEL.ditto --weights W -o OUT`: the offline measurements of
 * TeaCache (the rescaling polynomial, written as a schedule file) and MagCache (the magnitude-ratio
 * curve, written as JSON), from all-compute runs of the CPU reference executor
 * (evaluation/calibrate/fit.ts, docs/calibrate.md). Thin: flags, model, weights, the library, the file.
 */
import path from 'node:path';
import { rmSync } from 'node:fs';
import { Argument, Option, type Command } from 'commander';
import { DittoError } from '../../core/errors.ts';
import { writeFileAtomic } from '../../core/files.ts';
import { refuseOverwrite } from '../../core/outputGuard.ts';
import { graphWeights } from '../../compiler/ir/graph.ts';
import { loadProgram, parseSetFlag } from '../../compiler/frontend.ts';
import { openModel } from '../../compiler/compileSource.ts';
import { loadWeights, validateWeights } from '../../runtime/weights/index.ts';
import { fitMagnitudeCurve, fitTeacache, teacacheScheduleText, type FitRun } from '../../evaluation/calibrate/fit.ts';
import { addModelOptions } from '../modelArgs.ts';
import { checkOutputPath, parseFloatFlag, parseIntFlag } from '../options.ts';

interface FitFlags {
  model?: string;
  set?: string;
  weights: string;
  steps: string;
  samples: string;
  sampler: 'ddpm' | 'ddim';
  cfg?: string;
  seed: string;
  signal: string;
  threshold: string;
  output: string;
  allowNonFiniteWeights?: boolean;
}

export function registerFit(program: Command): void {
  const cmd = program
    .command('fit')
    .description("measure what TeaCache (its rescaling polynomial → a schedule file) or MagCache (its magnitude-ratio curve → JSON) needs for a model, from all-compute runs (CPU reference executor)")
    .addArgument(new Argument('<method>', 'teacache or magcache').choices(['teacache', 'magcache']))
    .argument('<model-file>', 'the .ditto file declaring the model');
  addModelOptions(cmd)
    .requiredOption('--weights <file>', 'model weights (.safetensors or PyTorch .pt)')
    .option('--steps <n>', 'sampling steps of the runs (and of the written schedule or curve)', '50')
    .option('--samples <n>', 'samples per run (classes 0, 1, …; seeded noise)', '4')
    .addOption(new Option('--sampler <kind>', 'sampler').choices(['ddpm', 'ddim']).default('ddpm'))
    .option('--cfg <scale>', 'classifier-free guidance scale (absent: no CFG); each branch is measured on its own')
    .option('--seed <n>', 'seed of the noise', '0')
    .option('--signal <node>', 'teacache: the node whose change is rescaled', 'blocks[0].msa_in')
    .option('--threshold <x>', 'teacache: the default threshold of the written schedule', '0.3')
    .option('--allow-non-finite-weights', 'load weights that hold NaN or Inf (refused by default)')
    .requiredOption('-o, --output <file>', 'teacache: the schedule to write (.ditto); magcache: the curve (.json)')
    .action((method: 'teacache' | 'magcache', file: string, flags: FitFlags) => {
      const steps = parseIntFlag('--steps', flags.steps, 2, 1000);
      const samples = parseIntFlag('--samples', flags.samples, 1, 256);
      const seed = parseIntFlag('--seed', flags.seed, 0, 2 ** 32 - 1);
      const cfgScale = flags.cfg !== undefined ? parseFloatFlag('--cfg', flags.cfg) : undefined;
      const threshold = parseFloatFlag('--threshold', flags.threshold);
      if (!(threshold > 0)) throw new DittoError('E_USAGE', `--threshold must be > 0, got ${flags.threshold}`);
      const ext = method === 'teacache' ? '.ditto' : '.json';
      if (path.extname(flags.output).toLowerCase() !== ext) throw new DittoError('E_USAGE', `-o for ${method} must be a ${ext} file, got '${flags.output}'`);
      checkOutputPath('-o', flags.output);
      refuseOverwrite([{ label: '-o', file: flags.output }], [{ label: 'the model file', file }, { label: '--weights', file: flags.weights }]);
      const set = flags.set !== undefined ? parseSetFlag(flags.set) : undefined;
      const { graph } = openModel(file, { model: flags.model, set, batch: samples, cfg: cfgScale !== undefined });
      const weights = loadWeights(flags.weights, 'weights', { allowNonFinite: flags.allowNonFiniteWeights === true });
      validateWeights(weights, graphWeights(graph));
      const run: FitRun = { graph, weights: weights.tensors, steps, samples, sampler: flags.sampler, seed, ...(cfgScale !== undefined ? { cfgScale } : {}) };
      const command = `ditto fit ${process.argv.slice(3).join(' ')}`;
      if (method === 'magcache') {
        const curve = fitMagnitudeCurve(run);
        const round = (xs: number[]) => xs.map((x) => Number(x.toPrecision(6)));
        writeFileAtomic(flags.output, JSON.stringify({ steps: curve.steps, cond: round(curve.cond), ...(curve.uncond ? { uncond: round(curve.uncond) } : {}), command }) + '\n');
        process.stdout.write(`wrote ${flags.output}: magnitude ratios of ${graph.model}'s residual at ${steps} steps${curve.uncond ? ' (cond and uncond)' : ''}\ncond: ${round(curve.cond).join(' ')}\n`);
        return;
      }
      const fit = fitTeacache(run, flags.signal);
      const model = graph.model;
      const use = path.relative(path.dirname(path.resolve(flags.output)), path.resolve(file)).split(path.sep).join('/');
      const name = `teacache_${(flags.model ?? model).replace(/[^A-Za-z0-9_]/g, '_').toLowerCase()}`;
      const text = teacacheScheduleText({ use, model, ...(flags.model !== undefined ? { variant: flags.model } : {}), name, steps, signal: flags.signal, coefficients: fit.coefficients, threshold, command });
      // The written file must load, resolve and check against the model before it is kept.
      writeFileAtomic(flags.output, text);
      try {
        loadProgram(path.resolve(flags.output));
      } catch (e) {
        rmSync(flags.output, { force: true });
        throw new DittoError('E_INTERNAL', `the written schedule does not check (removed): ${(e as Error).message}`);
      }
      process.stdout.write(`wrote ${flags.output} (schedule ${name}): rescale(${fit.coefficients.map((c) => c.toPrecision(6)).join(', ')}), ${fit.points.length} step pairs, rms ${fit.rms.toPrecision(3)}\n`);
    });
}
