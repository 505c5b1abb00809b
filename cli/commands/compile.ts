/**
 * `ditto compile MODEL.ditto --schedule NAME|FILE --steps N …`: front end → middle end → plan JSON.
 * Thin: flag parsing, then compiler/compileSource.ts.
 */
import { Option, type Command } from 'commander';
import { DittoError } from '../../core/errors.ts';
import { writeFileAtomic } from '../../core/files.ts';
import { schedulesDeclaredIn, parseSetFlag } from '../../compiler/frontend.ts';
import { compileSource } from '../../compiler/compileSource.ts';
import { PASS_NAMES } from '../../compiler/pipeline.ts';
import { CAPS_PROFILES } from '../../compiler/plan/caps.ts';
import { detectCompileCaps } from '../../runtime/detectCaps.ts';
import { planSummary } from '../../compiler/plan/summary.ts';
import { checkOutputPath, dawnToggleOption, deviceOptionsOf, parseFloatFlag, parseIntFlag, type DeviceFlags } from '../options.ts';
import { refuseOverwrite } from '../../core/outputGuard.ts';
import { scheduleFileOf } from '../inputFiles.ts';
import { samplerOption } from '../modelArgs.ts';

interface CompileFlags extends DeviceFlags {
  schedule?: string;
  steps: string;
  model?: string;
  set?: string;
  sampler: string;
  cfg?: string;
  batch: string;
  f16?: boolean;
  guide: string;
  caps: string;
  dumpAfter?: string;
  json?: boolean;
  output?: string;
}

export function registerCompile(program: Command): void {
  program
    .command('compile')
    .description('compile a model and a cache schedule into a step-indexed plan (JSON)')
    .argument('<model-file>', 'the .ditto file declaring the model (and usually its schedules)')
    .option('--schedule <name|file>', 'a schedule of the program, or a .ditto file with one schedule; default: none (every step computes)')
    .requiredOption('--steps <n>', 'sampling steps')
    .option('--model <name>', "the model or variant (e.g. DiT-XL/2); default: the file's only model")
    .option('--set <key=value,…>', 'override model parameters')
    .addOption(samplerOption())
    .option('--cfg <scale>', 'classifier-free guidance scale (absent: no CFG)')
    .option('--batch <n>', 'images per run', '1')
    .option('--f16', 'f16 weight storage (needs shader-f16)')
    .addOption(new Option('--guide <channels>', 'CFG-guided eps channels').choices(['first3', 'all']).default('first3'))
    .addOption(new Option('--caps <profile>', 'adapter profile for kernel selection and the cost model (auto: this machine\'s adapter, else hardware)').choices(['auto', ...Object.keys(CAPS_PROFILES)]).default('auto'))
    .addOption(new Option('--dump-after <pass>', `print the IR after a pass (${PASS_NAMES.join(', ')})`))
    .option('--json', 'print the plan summary as JSON')
    .option('-o, --output <file>', 'where to write the plan')
    .option('--backend <name>', 'Dawn backend of the adapter that --caps auto asks')
    .addOption(dawnToggleOption())
    .action(async (file: string, flags: CompileFlags) => {
      const deviceOptions = deviceOptionsOf(flags);
      const steps = parseIntFlag('--steps', flags.steps, 1, 1000);
      const batch = parseIntFlag('--batch', flags.batch, 1, 4096);
      const cfgScale = flags.cfg !== undefined ? parseFloatFlag('--cfg', flags.cfg) : undefined;
      if (!flags.output && !flags.json && !flags.dumpAfter) throw new DittoError('E_USAGE', 'compile: give -o plan.json (or --json / --dump-after to only print)');
      if (flags.output) checkOutputPath('-o', flags.output);
      const output = [{ label: '-o', file: flags.output }];
      refuseOverwrite(output, [{ label: 'the model file', file }, { label: '--schedule', file: scheduleFileOf(flags.schedule) }]);
      const r = await compileSource(file, {
        schedule: flags.schedule, steps, batch, model: flags.model, set: flags.set ? parseSetFlag(flags.set) : undefined,
        sampler: flags.sampler as 'ddpm' | 'ddim', f16: flags.f16 ?? false, guide: flags.guide as 'first3' | 'all',
        caps: () => detectCompileCaps(flags.caps, deviceOptions), ...(cfgScale !== undefined ? { cfgScale } : {}), ...(flags.dumpAfter ? { dumpAfter: flags.dumpAfter } : {}),
      });
      // The files the model `use`s are inputs too.
      refuseOverwrite(output, [...r.model.program.sources.keys()].map((f) => ({ label: 'the source file', file: f })));
      if (!flags.schedule) noteUncachedCompile(file, schedulesDeclaredIn(r.model.program, file).map((s) => s.name));
      if (r.dump) process.stdout.write(r.dump);
      if (flags.output) writeFileAtomic(flags.output, JSON.stringify(r.plan));
      if (flags.json) process.stdout.write(JSON.stringify(planSummary(r.plan), null, 2) + '\n');
      else if (flags.output) {
        const p = r.plan;
        process.stdout.write(`wrote ${flags.output}: ${p.kernels.length} kernels, ${p.bodies.length} step bodies, FLOPs ratio ${p.cost.flopsRatio.toFixed(3)}, predicted ${p.cost.predictedSpeedup.toFixed(2)}x, peak ${(p.cost.peakMemoryBytes / 2 ** 20).toFixed(0)} MiB\n`);
      }
    });
}

/** Without --schedule every step computes. A file that declares schedules of its own was most likely
 *  given to compile one of them, so say which, rather than let a no-cache plan pass unremarked. */
function noteUncachedCompile(file: string, own: readonly string[]): void {
  if (own.length === 0) return;
  process.stderr.write(`note: no --schedule given, so every step computes; ${file} declares ${own.length === 1 ? 'schedule' : 'schedules'} ${own.join(', ')} (compile one with --schedule ${own[0]})\n`);
}
