/**
 * `ditto tune PLAN -o TUNED`: time the candidate matmul variants of every matmul kernel of a plan on
 * this adapter and write the plan with the fastest (runtime/tune.ts); `--cache FILE` keeps the
 * choices per adapter and kernel for later plans and for `ditto run --tuning-cache`.
 */
import type { Command } from 'commander';
import { writeFileAtomic } from '../../core/files.ts';
import { refuseOverwrite } from '../../core/outputGuard.ts';
import { loadAnyPlan } from '../../compiler/plan/load.ts';
import { createGpu } from '../../runtime/device.ts';
import { readTuningCache, tunePlan } from '../../runtime/tune.ts';
import { addDeviceOptions, checkOutputPath, deviceOptionsOf, parseIntFlag, type DeviceFlags } from '../options.ts';
import { readPlanFileWith } from './run.ts';

interface TuneFlags extends DeviceFlags {
  out: string;
  cache?: string;
  budgetMs: string;
  maxCandidates?: string;
  json?: boolean;
}

export function registerTune(program: Command): void {
  const command = program
    .command('tune')
    .description("time the candidate matmul kernels of a plan on this adapter and write the plan with the fastest")
    .argument('<plan>', 'a plan written by ditto compile (sampling or forward)')
    .requiredOption('-o, --out <file>', 'the tuned plan (never the input file)')
    .option('--cache <file>', 'a tuning cache: reuse its choices for this adapter, and add the new ones')
    .option('--budget-ms <ms>', 'timed work per candidate', '300')
    .option('--max-candidates <n>', 'time at most n candidates per kernel (the compiled one included)')
    .option('--json', 'print what was chosen as JSON');
  addDeviceOptions(command)
    .action(async (planFile: string, flags: TuneFlags) => {
      refuseOverwrite([{ label: '--out', file: flags.out }, { label: '--cache', file: flags.cache }], [{ label: 'the plan', file: planFile }]);
      const deviceOptions = deviceOptionsOf(flags);
      const plan = readPlanFileWith(planFile, loadAnyPlan);
      checkOutputPath('--out', flags.out);
      const budgetMs = parseIntFlag('--budget-ms', flags.budgetMs, 1);
      const maxCandidates = flags.maxCandidates !== undefined ? parseIntFlag('--max-candidates', flags.maxCandidates, 1) : undefined;
      if (flags.cache) {
        checkOutputPath('--cache', flags.cache);
        readTuningCache(flags.cache); // a file that is not a tuning cache fails before the GPU opens
      }
      const gpu = await createGpu(deviceOptions);
      const log = flags.json ? undefined : (s: string) => process.stderr.write(s + '\n');
      const { plan: tuned, tuning } = await tunePlan(gpu, plan, { budgetMs, ...(maxCandidates ? { maxCandidates } : {}), ...(flags.cache ? { cacheFile: flags.cache } : {}), ...(log ? { log } : {}) });
      writeFileAtomic(flags.out, JSON.stringify(tuned) + '\n');
      const changed = tuning.kernels.filter((k) => JSON.stringify(k.variant) !== JSON.stringify(k.previous)).length;
      if (flags.json) process.stdout.write(JSON.stringify({ out: flags.out, hash: tuned.hash, ...tuning }, null, 2) + '\n');
      else {
        process.stdout.write(`tuned ${tuning.kernels.length} matmul kernels on ${gpu.report.name}: ${changed} changed` +
          `${tuning.skipped.length ? `, ${tuning.skipped.length} left as compiled (dispatched by a dynamic rule)` : ''}; wrote ${flags.out}\n`);
      }
      gpu.device.destroy();
    });
}
