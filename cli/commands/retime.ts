/**
 * `ditto retime SCHEDULE --steps N [MODEL.ditto] [-o out.ditto]`: a schedule mapped to another step
 * count (compiler/retimeSource.ts), with its predicted speed-up before and after, and optionally
 * written as a schedule file (checked to resolve to exactly the retimed table). Thin: flags, the
 * library, the file.
 */
import path from 'node:path';
import { Option, type Command } from 'commander';
import { DittoError } from '../../core/errors.ts';
import { writeFileAtomic } from '../../core/files.ts';
import { refuseOverwrite } from '../../core/outputGuard.ts';
import { DEFAULT_RETIME_MODEL, DEFAULT_RETIME_MODEL_FILE, retimeSource } from '../../compiler/retimeSource.ts';
import { checkOutputPath, parseFloatFlag, parseIntFlag } from '../options.ts';

interface RetimeFlags {
  steps: string;
  model?: string;
  sampler?: 'ddpm' | 'ddim';
  cfg?: string;
  output?: string;
}

export function registerRetime(program: Command): void {
  program
    .command('retime')
    .description("map a schedule to another step count (each new step takes the actions of the nearest point of the trajectory; dynamic rules keep their thresholds and scale their step counts) and report its predicted speed-up")
    .argument('<schedule>', "a schedule: a library name, FILE.ditto[:NAME], with parameters, e.g. 'fora(N=3)'")
    .argument('[model-file]', 'the .ditto file of the model the speed-up is predicted for', path.relative(process.cwd(), DEFAULT_RETIME_MODEL_FILE) || DEFAULT_RETIME_MODEL_FILE)
    .requiredOption('--steps <n>', 'the new step count')
    .option('--model <name>', `the model or variant (default ${DEFAULT_RETIME_MODEL} for models/fmnist.ditto, else the file's only model)`)
    .addOption(new Option('--sampler <kind>', "sampler of the predicted plans (default: the schedule's `sampler` statement, else ddpm)").choices(['ddpm', 'ddim']))
    .option('--cfg <scale>', 'classifier-free guidance scale of the predicted plans (absent: none)')
    .option('-o, --output <file.ditto>', 'write the retimed schedule here')
    .action((spec: string, file: string, flags: RetimeFlags) => {
      const steps = parseIntFlag('--steps', flags.steps, 1, 10000);
      const cfgScale = flags.cfg !== undefined ? parseFloatFlag('--cfg', flags.cfg) : undefined;
      if (flags.output !== undefined) {
        if (path.extname(flags.output).toLowerCase() !== '.ditto') throw new DittoError('E_USAGE', `-o must be a .ditto file, got '${flags.output}'`);
        checkOutputPath('-o', flags.output);
        refuseOverwrite([{ label: '-o', file: flags.output }], [{ label: 'the model file', file }]);
      }
      const r = retimeSource(spec, {
        steps, modelFile: file,
        ...(flags.sampler !== undefined ? { sampler: flags.sampler } : {}),
        ...(flags.model !== undefined ? { model: flags.model } : {}),
        ...(cfgScale !== undefined ? { cfgScale } : {}),
        ...(flags.output !== undefined ? { outputFile: flags.output } : {}),
        comment: [`${spec} retimed to ${steps} steps by:`, `  ditto retime ${process.argv.slice(3).join(' ')}`],
      });
      const dynamicNote = r.source.dynamic.length ? ' (steps a dynamic rule decides are costed as computing)' : '';
      const lines = [
        `${r.source.name}: ${r.before.steps} steps → ${steps} steps (model ${r.model})`,
        `  at ${r.before.steps} steps: FLOPs ratio ${r.before.flopsRatio.toFixed(3)}, predicted ${r.before.predictedSpeedup.toFixed(2)}x${dynamicNote}`,
        `  at ${steps} steps: FLOPs ratio ${r.after.flopsRatio.toFixed(3)}, predicted ${r.after.predictedSpeedup.toFixed(2)}x`,
      ];
      if (flags.output !== undefined) {
        writeFileAtomic(flags.output, r.text);
        lines.push(`wrote ${flags.output} (schedule ${r.name})`);
      }
      process.stdout.write(lines.join('\n') + '\n');
    });
}
