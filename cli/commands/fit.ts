/**
 * `ditto fit teacache|magcache MODEL.ditto --weights W -o OUT`: the offline measurements of
 * TeaCache (the rescaling polynomial, written as a schedule file) and MagCache (the magnitude-ratio
 * curve, written as JSON), from all-compute runs of the CPU reference executor
 * (evaluation/calibrate/fit.ts, docs/calibrate.md). Thin: flags, weights, the library, the file.
 */
import path from 'node:path';
import { Argument, type Command } from 'commander';
import { DittoError } from '../../core/errors.ts';
import { writeFileAtomic } from '../../core/files.ts';
import { refuseOverwrite } from '../../core/outputGuard.ts';
import { graphWeights } from '../../compiler/ir/graph.ts';
import { parseSetFlag } from '../../compiler/frontend.ts';
import { openModel } from '../../compiler/compileSource.ts';
import { loadWeights, validateWeights } from '../../runtime/weights/index.ts';
import { fitFromSource } from '../../evaluation/calibrate/fit.ts';
import { addModelOptions, samplerOption } from '../modelArgs.ts';
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
    .addOption(samplerOption())
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
      // Cheap checks first: the model, then the (possibly large) weights.
      const { graph } = openModel(file, { model: flags.model, set, batch: 1, cfg: false });
      const weights = loadWeights(flags.weights, 'weights', { allowNonFinite: flags.allowNonFiniteWeights === true });
      validateWeights(weights, graphWeights(graph));
      const r = fitFromSource(method, {
        modelFile: file, ...(flags.model !== undefined ? { model: flags.model } : {}), ...(set ? { set } : {}),
        weights: weights.tensors, steps, samples, sampler: flags.sampler, seed, ...(cfgScale !== undefined ? { cfgScale } : {}),
        signal: flags.signal, threshold, outputFile: flags.output, command: `ditto fit ${process.argv.slice(3).join(' ')}`,
      });
      writeFileAtomic(flags.output, r.text);
      process.stdout.write(`wrote ${flags.output}${method === 'teacache' ? ' ' : ': '}${r.summary}\n`);
    });
}
