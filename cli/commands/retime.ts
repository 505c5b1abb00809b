/**
 * `ditto retime SCHEDULE --steps N [MODEL.ditto] [-o out.ditto]`: a schedule mapped to another step
 * count (compiler/schedule/retime.ts), with its predicted speed-up before and after, and optionally
 * written as a schedule file that is checked to resolve to exactly the retimed table.
 */
import path from 'node:path';
import { rmSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { DittoError } from '../../core/errors.ts';
import { writeFileAtomic } from '../../core/files.ts';
import { refuseOverwrite } from '../../core/outputGuard.ts';
import { PACKAGE_ROOT } from '../../core/packageRoot.ts';
import { loadProgram, resolveSchedule } from '../../compiler/frontend.ts';
import { openModel, planFor } from '../../compiler/compileSource.ts';
import { retimeSchedule, scheduleText } from '../../compiler/schedule/retime.ts';
import type { ScheduleIR } from '../../compiler/ir/schedule.ts';
import { checkOutputPath, parseFloatFlag, parseIntFlag } from '../options.ts';

const DEFAULT_MODEL_FILE = path.join(PACKAGE_ROOT, 'models', 'fmnist.ditto');
const DEFAULT_MODEL = 'DiT-FMNIST';

interface RetimeFlags {
  steps: string;
  model?: string;
  sampler: 'ddpm' | 'ddim';
  cfg?: string;
  output?: string;
}

export function registerRetime(program: Command): void {
  program
    .command('retime')
    .description("map a schedule to another step count (each new step takes the actions of the nearest point of the trajectory; dynamic rules keep their thresholds and scale their step counts) and report its predicted speed-up")
    .argument('<schedule>', "a schedule: a library name, FILE.ditto[:NAME], with parameters, e.g. 'fora(N=3)'")
    .argument('[model-file]', 'the .ditto file of the model the speed-up is predicted for', path.relative(process.cwd(), DEFAULT_MODEL_FILE) || DEFAULT_MODEL_FILE)
    .requiredOption('--steps <n>', 'the new step count')
    .option('--model <name>', `the model or variant (default ${DEFAULT_MODEL} for models/fmnist.ditto, else the file's only model)`)
    .addOption(new Option('--sampler <kind>', 'sampler of the predicted plans').choices(['ddpm', 'ddim']).default('ddpm'))
    .option('--cfg <scale>', 'classifier-free guidance scale of the predicted plans (absent: none)')
    .option('-o, --output <file.ditto>', 'write the retimed schedule here')
    .action((spec: string, file: string, flags: RetimeFlags) => {
      const N = parseIntFlag('--steps', flags.steps, 1, 10000);
      const cfgScale = flags.cfg !== undefined ? parseFloatFlag('--cfg', flags.cfg) : undefined;
      if (flags.output !== undefined) {
        if (path.extname(flags.output).toLowerCase() !== '.ditto') throw new DittoError('E_USAGE', `-o must be a .ditto file, got '${flags.output}'`);
        checkOutputPath('-o', flags.output);
        refuseOverwrite([{ label: '-o', file: flags.output }], [{ label: 'the model file', file }]);
      }
      const model = flags.model ?? (path.resolve(file) === DEFAULT_MODEL_FILE ? DEFAULT_MODEL : undefined);
      const m = openModel(file, { model, batch: 1, cfg: cfgScale !== undefined });
      const source = resolveSchedule(m.program, spec, m.graph, {});
      const retimed = retimeSchedule(source, N);
      const predict = (s: ScheduleIR) => planFor(m, s, { steps: s.steps, sampler: flags.sampler, ...(cfgScale !== undefined ? { cfgScale } : {}) }).plan.cost;
      const before = predict(source);
      const after = predict(retimed);
      const dynamicNote = source.dynamic.length ? ' (steps a dynamic rule decides are costed as computing)' : '';
      const lines = [
        `${source.name}: ${source.steps} steps → ${N} steps (model ${model ?? m.graph.model})`,
        `  at ${source.steps} steps: FLOPs ratio ${before.flopsRatio.toFixed(3)}, predicted ${before.predictedSpeedup.toFixed(2)}x${dynamicNote}`,
        `  at ${N} steps: FLOPs ratio ${after.flopsRatio.toFixed(3)}, predicted ${after.predictedSpeedup.toFixed(2)}x`,
      ];
      if (flags.output !== undefined) {
        const name = `${source.name}_${N}`;
        const use = path.relative(path.dirname(path.resolve(flags.output)), path.resolve(file)).split(path.sep).join('/');
        writeFileAtomic(flags.output, scheduleText(retimed, { name, use, comment: [`${spec} (${source.steps} steps) retimed to ${N} steps by:`, `  ditto retime ${process.argv.slice(3).join(' ')}`] }));
        // The file must say exactly what was retimed: resolve it and compare.
        try {
          const back = resolveSchedule(loadProgram(path.resolve(flags.output)), name, m.graph, {});
          if (JSON.stringify(back.table) !== JSON.stringify(retimed.table) || JSON.stringify(back.epsScale) !== JSON.stringify(retimed.epsScale) || JSON.stringify(back.dynamic) !== JSON.stringify(retimed.dynamic)) {
            throw new DittoError('E_INTERNAL', 'the written schedule resolves to another table than the retimed one');
          }
        } catch (e) {
          rmSync(flags.output, { force: true });
          throw e;
        }
        lines.push(`wrote ${flags.output} (schedule ${name})`);
      }
      process.stdout.write(lines.join('\n') + '\n');
    });
}
