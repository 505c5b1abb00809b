/**
 * `ditto eval MODEL.ditto --weights W --schedules a,b --samples N`: FID, class accuracy, PSNR/SSIM
 * against the no-cache output and measured speed-up, one row per schedule, plus a PNG grid per
 * schedule, table.md and eval.json in --out-dir. Thin: evaluation/eval/ does the work.
 */
import { Option, type Command } from 'commander';
import cliProgress from 'cli-progress';
import { DittoError } from '../../core/errors.ts';
import { refuseOverwrite } from '../../core/outputGuard.ts';
import { scheduleListFiles } from '../inputFiles.ts';
import { parseSetFlag } from '../../compiler/frontend.ts';
import { loadWeights } from '../../runtime/weights/index.ts';
import { runEval } from '../../evaluation/eval/evaluate.ts';
import { evalJson, formatEvalTable, writeEvalOutputs } from '../../evaluation/eval/report.ts';
import { splitScheduleList } from '../../evaluation/eval/scheduleList.ts';
import type { EvalDevice, EvalProgress } from '../../evaluation/eval/types.ts';
import { addDeviceOptions, deviceOptionsOf, parseFloatFlag, parseIntFlag, type DeviceFlags } from '../options.ts';

interface EvalFlags extends DeviceFlags {
  model?: string;
  set?: string;
  weights: string;
  schedules: string;
  samples: string;
  steps: string;
  sampler: string;
  cfg?: string;
  batch: string;
  seed: string;
  outDir: string;
  json?: boolean;
  device: string;
  warmup: boolean;
  resume?: boolean;
  bootstrap?: string;
}

export interface ProgressReporter {
  update: (p: EvalProgress) => void;
  stop: () => void;
}

/**
 * How a long evaluation reports progress on stderr: a bar on a terminal; plain lines when stderr
 * is a file or a pipe (nohup, CI logs), where a multi-hour run would otherwise print nothing until
 * it ends; nothing with --json on a terminal.
 */
export function progressReporter(json: boolean, stderr: NodeJS.WriteStream = process.stderr): ProgressReporter {
  if (stderr.isTTY !== true) return progressLines((line) => stderr.write(line + '\n'));
  return progressBar(!json);
}

const LINE_INTERVAL_MS = 30_000;

function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(s % 60).padStart(2, '0')}s`;
}

/**
 * Progress as lines: the start and end of every phase and at most one line per 30 s in between,
 * with the elapsed time of the phase and, once a unit is done, an estimate of what is left.
 */
export function progressLines(write: (line: string) => void, now: () => number = () => performance.now()): ProgressReporter {
  let phase = '';
  let phaseStart = 0;
  let lastLine = 0;
  let lastDone = -1;
  return {
    update: (p) => {
      const t = now();
      const changed = p.phase !== phase;
      if (changed) {
        phase = p.phase;
        phaseStart = t;
      }
      const finished = p.done >= p.total;
      if (!changed && !finished && t - lastLine < LINE_INTERVAL_MS) return;
      if (!changed && p.done === lastDone) return;
      lastLine = t;
      lastDone = p.done;
      const elapsed = (t - phaseStart) / 1000;
      const left = p.done > 0 && !finished ? `, about ${clock((elapsed / p.done) * (p.total - p.done))} left` : '';
      const pct = p.total > 0 ? ` (${((100 * p.done) / p.total).toFixed(0)}%)` : '';
      write(`${p.phase} ${p.done}/${p.total}${pct}${p.row ? `  ${p.row}` : ''}  ${clock(elapsed)}${left}`);
    },
    stop: () => {
      phase = '';
    },
  };
}

/** A progress bar on a terminal; a no-op when disabled. One bar per phase. */
export function progressBar(enabled: boolean): ProgressReporter {
  if (!enabled) return { update: () => undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar({ format: '{phase} |{bar}| {value}/{total}  {row}  {duration_formatted}', stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic);
  let phase = '';
  return {
    update: (p) => {
      if (p.phase !== phase) {
        if (phase) bar.stop();
        phase = p.phase;
        bar.start(p.total, p.done, { phase: p.phase.padEnd(7), row: p.row ?? '' });
      } else bar.update(p.done, { row: p.row ?? '' });
    },
    stop: () => {
      if (phase) bar.stop();
      phase = '';
    },
  };
}

export function registerEval(program: Command): void {
  const command = program
    .command('eval')
    .description('compare cache schedules with the no-cache baseline: FID, class accuracy, PSNR/SSIM, speed-up, image grids')
    .argument('<model-file>', 'the .ditto file declaring the model (a pixel-space model, e.g. models/fmnist.ditto)')
    .option('--model <name>', "the model or variant (e.g. DiT-FMNIST); default: the file's only model")
    .option('--set <key=value,…>', 'override model parameters')
    .requiredOption('--weights <file>', 'model weights (.safetensors or PyTorch .pt)')
    .requiredOption('--schedules <list>', 'comma-separated schedules: names (fora(N=2), ebcache_table), .ditto files or FILE.ditto:NAME')
    .requiredOption('--samples <n>', 'images per schedule (classes cycle 0, 1, 2, …)')
    .option('--steps <n>', 'sampling steps', '50')
    .addOption(new Option('--sampler <kind>', 'sampler').choices(['ddpm', 'ddim']).default('ddpm'))
    .option('--cfg <scale>', 'classifier-free guidance scale (absent: no CFG)')
    .option('--batch <n>', 'images per sampling run', '50')
    .option('--seed <n>', 'seed of batch 0 (batch j uses seed + j, for every schedule)', '0')
    .option('--out-dir <dir>', 'where the grids, table.md and eval.json go', 'ditto-eval')
    .option('--json', 'print the report as JSON instead of a table')
    .addOption(new Option('--device <kind>', 'gpu: compiled plans on WebGPU; reference: the CPU reference executor (slow)').choices(['gpu', 'reference']).default('gpu'))
    .option('--no-warmup', 'time the first run of each plan too (GPU)')
    .option('--bootstrap <n>', 'paired bootstrap resamples for FID: its standard error and a 95% interval of each row\'s FID difference from no cache (e.g. 200)')
    .option('--resume', 'save every sampled batch in OUT-DIR/eval-progress and continue from the batches saved there: an interrupted eval resumes, a finished one grows to more --samples');
  addDeviceOptions(command)
    .action(async (file: string, flags: EvalFlags) => {
      const samples = parseIntFlag('--samples', flags.samples, 1, 1_000_000);
      const steps = parseIntFlag('--steps', flags.steps, 1, 1000);
      const batch = parseIntFlag('--batch', flags.batch, 1, 4096);
      const seed = parseIntFlag('--seed', flags.seed, 0, 2 ** 32 - 1);
      const cfgScale = flags.cfg !== undefined ? parseFloatFlag('--cfg', flags.cfg) : undefined;
      const schedules = splitScheduleList(flags.schedules);
      const bootstrap = flags.bootstrap !== undefined ? parseIntFlag('--bootstrap', flags.bootstrap, 2, 100_000) : undefined;
      if (!flags.outDir.trim()) throw new DittoError('E_USAGE', '--out-dir must name a folder');
      refuseOverwrite([], [{ label: 'the model file', file }, { label: '--weights', file: flags.weights }, ...scheduleListFiles('--schedules', flags.schedules)],
        [{ label: '--out-dir', dir: flags.outDir, writes: (name) => /\.png$/i.test(name) || name === 'table.md' || name === 'eval.json' }]);
      const weights = loadWeights(flags.weights);
      const bar = progressReporter(flags.json === true);
      let report;
      try {
        report = await runEval({
          modelFile: file,
          ...(flags.model ? { model: flags.model } : {}),
          ...(flags.set ? { set: parseSetFlag(flags.set) } : {}),
          weights: weights.tensors,
          weightsFile: flags.weights,
          schedules,
          samples,
          steps,
          sampler: flags.sampler as 'ddpm' | 'ddim',
          ...(cfgScale !== undefined ? { cfgScale } : {}),
          batch: Math.min(batch, samples),
          seed,
          device: flags.device as EvalDevice,
          deviceOptions: deviceOptionsOf(flags),
          warmup: flags.warmup,
          onProgress: bar.update,
          ...(flags.resume ? { resumeDir: flags.outDir } : {}),
          ...(bootstrap !== undefined ? { bootstrap } : {}),
        });
      } finally {
        bar.stop();
      }
      const files = writeEvalOutputs(report, flags.outDir);
      if (flags.json) {
        process.stdout.write(JSON.stringify({ ...evalJson(report), files }, null, 2) + '\n');
        return;
      }
      process.stdout.write(formatEvalTable(report, 'text'));
      process.stdout.write(`wrote ${Object.keys(files.grids).length} grids, ${files.table} and ${files.json}\n`);
    });
}
