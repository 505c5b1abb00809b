/**
 * `ditto demo` (npm run demo): the embedded Fashion-MNIST DiT with no cache, EB-Cache as released and
 * the best measured schedule, side by side in demo.png, with the speed-ups and the measured FID
 * changes. Thin: evaluation/eval/demo.ts does the work. The hidden flags shrink the run for tests and
 * quick looks.
 */
import { Option, type Command } from 'commander';
import { formatDemoSummary, runDemo, DEMO_DEFAULTS } from '../../evaluation/eval/demo.ts';
import { progressReporter } from './eval.ts';
import { addDeviceOptions, checkOutputPath, deviceOptionsOf, parseFloatFlag, parseIntFlag, type DeviceFlags } from '../options.ts';
import { refuseOverwrite } from '../../core/outputGuard.ts';
import { DittoError } from '../../core/errors.ts';
import { splitScheduleList } from '../../evaluation/eval/scheduleList.ts';

interface DemoFlags extends DeviceFlags {
  out: string;
  weights?: string;
  cfg?: string;
  seed: string;
  device: string;
  steps?: string;
  perClass?: string;
  schedule?: string;
}

export function registerDemo(program: Command): void {
  const command = program
    .command('demo')
    .description('sample the built-in Fashion-MNIST DiT with no cache, EB-Cache as released and the best measured schedule; write demo.png side by side and print speed-ups, PSNR and the measured FID changes')
    .option('--out <file.png>', 'where the picture goes', DEMO_DEFAULTS.out)
    .option('--weights <file>', 'weights of DiT-FMNIST', DEMO_DEFAULTS.weightsFile)
    .option('--cfg <scale>', 'classifier-free guidance scale', String(DEMO_DEFAULTS.cfgScale))
    .option('--seed <n>', 'noise seed', String(DEMO_DEFAULTS.seed))
    .addOption(new Option('--device <kind>', 'auto: the GPU, or the CPU reference executor when there is no adapter').choices(['auto', 'gpu', 'reference']).default('auto'))
    .addOption(new Option('--per-class <n>', 'images per class (default 2; 1 on the CPU)').hideHelp())
    .addOption(new Option('--steps <n>', 'sampling steps (the EB-Cache table needs 50)').hideHelp())
    .addOption(new Option('--schedule <list>', 'the cached schedules, comma-separated, instead of the default two').hideHelp());
  addDeviceOptions(command)
    .action(async (flags: DemoFlags) => {
      if (!flags.out.toLowerCase().endsWith('.png')) throw new DittoError('E_USAGE', `--out must name a .png file, got '${flags.out}'`);
      checkOutputPath('--out', flags.out);
      refuseOverwrite([{ label: '--out', file: flags.out }], [{ label: '--weights', file: flags.weights }]);
      const bar = progressReporter(false);
      try {
        const r = await runDemo({
          out: flags.out,
          ...(flags.weights ? { weightsFile: flags.weights } : {}),
          ...(flags.cfg !== undefined ? { cfgScale: parseFloatFlag('--cfg', flags.cfg) } : {}),
          seed: parseIntFlag('--seed', flags.seed, 0, 2 ** 32 - 1),
          device: flags.device as 'auto' | 'gpu' | 'reference',
          deviceOptions: deviceOptionsOf(flags),
          ...(flags.steps !== undefined ? { steps: parseIntFlag('--steps', flags.steps, 1, 1000) } : {}),
          ...(flags.perClass !== undefined ? { perClass: parseIntFlag('--per-class', flags.perClass, 1, 100) } : {}),
          ...(flags.schedule !== undefined ? { schedules: splitScheduleList(flags.schedule) } : {}),
          warn: (m) => {
            bar.stop();
            process.stderr.write(`warning: ${m}\n`);
          },
          onProgress: bar.update,
        });
        bar.stop();
        process.stdout.write(formatDemoSummary(r));
      } finally {
        bar.stop();
      }
    });
}
