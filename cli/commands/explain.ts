/** `ditto explain plan.json [--svg out.svg] [--json]`: what a plan does per step, and the heatmap. */
import type { Command } from 'commander';
import { writeFileAtomic } from '../../core/files.ts';
import { refuseOverwrite } from '../../core/outputGuard.ts';
import { explainSvg } from '../../compiler/explain/svg.ts';
import { explainText } from '../../compiler/explain/text.ts';
import { readPlanFile } from './run.ts';
import { planSummary } from '../../compiler/plan/summary.ts';
import { calibratedPrediction, readKernelTimesFile } from '../../compiler/plan/kernelTimes.ts';

export function registerExplain(program: Command): void {
  program
    .command('explain')
    .description('show per-step work, dispatches, FLOPs, memory and the predicted speed-up of a plan')
    .argument('<plan>', 'a plan written by ditto compile')
    .option('--svg <file>', 'also draw the schedule as a heatmap (steps × nodes)')
    .option('--json', 'print the plan summary as JSON instead of the table')
    .option('--kernel-times <file>', 'also price the plan with kernel times measured on an adapter (a bench\'s report.json, a search\'s front.json or search-state.json)')
    .option('--allow-edited-plan', 'explain a plan whose contents no longer match its hash (edited by hand)')
    .action((file: string, flags: { svg?: string; json?: boolean; allowEditedPlan?: boolean; kernelTimes?: string }) => {
      // readPlanFile puts the file's name in front of a format error, as `run` does.
      refuseOverwrite([{ label: '--svg', file: flags.svg }], [{ label: 'the plan', file }, { label: '--kernel-times', file: flags.kernelTimes }]);
      const plan = readPlanFile(file, { allowEdited: flags.allowEditedPlan === true });
      const times = flags.kernelTimes !== undefined ? readKernelTimesFile(flags.kernelTimes, '--kernel-times') : undefined;
      const prediction = times ? calibratedPrediction(plan, times) : undefined;
      if (flags.svg) writeFileAtomic(flags.svg, explainSvg(plan));
      process.stdout.write(flags.json
        ? JSON.stringify({ ...planSummary(plan), ...(prediction ? { calibrated: prediction } : {}) }, null, 2) + '\n'
        : explainText(plan, prediction && flags.kernelTimes !== undefined ? { prediction, file: flags.kernelTimes } : undefined));
    });
}
