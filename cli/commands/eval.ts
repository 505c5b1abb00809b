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
import { parseShardSpec, runEvalShard } from '../../evaluation/eval/shard.ts';
import { writeShard } from '../../evaluation/eval/shardFiles.ts';
import { mergeEvalShardDirs } from '../../evaluation/eval/merge.ts';
import { parseRedisUrl } from '../../evaluation/eval/queue/connection.ts';
import { runEvalOnQueue, type QueueProgress } from '../../evaluation/eval/queue/submit.ts';
import { splitScheduleList } from '../../evaluation/eval/scheduleList.ts';
import type { EvalConfig, EvalDevice, EvalProgress, EvalReport } from '../../evaluation/eval/types.ts';
import { addModelOptions, samplerOption } from '../modelArgs.ts';
import { addDeviceOptions, deviceOptionsOf, parseFloatFlag, parseIntFlag, type DeviceFlags } from '../options.ts';
import { EXIT_USER } from '../exit.ts';
import type { ProgressSettings } from '../../evaluation/eval/progressStore.ts';

interface EvalFlags extends DeviceFlags {
  model?: string;
  set?: string;
  weights?: string;
  schedules?: string;
  samples?: string;
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
  shard?: string;
  merge?: string[];
  queue?: string;
  shards?: string;
  expectSettings?: string;
  ipc?: boolean;
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

/** `ditto eval --queue`'s progress in the form the reporters show: samples done, shards done as the row label. */
export function queueProgress(q: QueueProgress): EvalProgress {
  return { phase: 'queue', done: q.samplesDone, total: q.samples, row: `${q.shardsDone}/${q.shards} shards done` };
}

/** Options that choose what to sample; `--merge` takes none of them (the shards carry their settings). */
const SAMPLING_OPTIONS = ['weights', 'schedules', 'samples', 'model', 'set', 'steps', 'sampler', 'cfg', 'batch', 'seed', 'device', 'warmup', 'resume', 'shard', 'queue', 'shards', 'backend', 'dawnToggle'];

function required<T>(value: T | undefined, flag: string): T {
  if (value === undefined) throw new DittoError('E_USAGE', `${flag} is required (or --merge DIR… to score shards)`);
  return value;
}

/** The sampling settings from the flags; throws on bad values before any slow work. */
function sampleConfig(file: string | undefined, flags: EvalFlags): EvalConfig {
  if (file === undefined) throw new DittoError('E_USAGE', 'eval needs a model file (e.g. models/fmnist.ditto), or --merge DIR… to score shards');
  const samples = parseIntFlag('--samples', required(flags.samples, '--samples'), 1, 1_000_000);
  const steps = parseIntFlag('--steps', flags.steps, 1, 1000);
  const batch = parseIntFlag('--batch', flags.batch, 1, 4096);
  const seed = parseIntFlag('--seed', flags.seed, 0, 2 ** 32 - 1);
  const cfgScale = flags.cfg !== undefined ? parseFloatFlag('--cfg', flags.cfg) : undefined;
  const schedules = splitScheduleList(required(flags.schedules, '--schedules'));
  const weightsFile = required(flags.weights, '--weights');
  return {
    modelFile: file,
    ...(flags.model ? { model: flags.model } : {}),
    ...(flags.set ? { set: parseSetFlag(flags.set) } : {}),
    weights: loadWeights(weightsFile).tensors,
    weightsFile,
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
  };
}

function printReport(report: EvalReport, outDir: string, json: boolean): void {
  const files = writeEvalOutputs(report, outDir);
  if (json) {
    process.stdout.write(JSON.stringify({ ...evalJson(report), files }, null, 2) + '\n');
    return;
  }
  process.stdout.write(formatEvalTable(report, 'text'));
  process.stdout.write(`wrote ${Object.keys(files.grids).length} grids, ${files.table} and ${files.json}\n`);
}

async function withProgress<T>(json: boolean, work: (update: (p: EvalProgress) => void) => Promise<T>): Promise<T> {
  const bar = progressReporter(json);
  try {
    return await work(bar.update);
  } finally {
    bar.stop();
  }
}

export function registerEval(program: Command): void {
  const command = addModelOptions(program
    .command('eval')
    .description('compare cache schedules with the no-cache baseline: FID, class accuracy, PSNR/SSIM, speed-up, image grids; --shard / --merge / --queue split it over machines')
    .argument('[model-file]', 'the .ditto file declaring the model (a pixel-space model, e.g. models/fmnist.ditto); none with --merge'))
    .option('--weights <file>', 'model weights (.safetensors or PyTorch .pt); required unless --merge')
    .option('--schedules <list>', 'comma-separated schedules: names (fora(N=2), ebcache_table), .ditto files or FILE.ditto:NAME; required unless --merge')
    .option('--samples <n>', 'images per schedule (classes cycle 0, 1, 2, …); required unless --merge')
    .option('--steps <n>', 'sampling steps', '50')
    .addOption(samplerOption())
    .option('--cfg <scale>', 'classifier-free guidance scale (absent: no CFG)')
    .option('--batch <n>', 'images per sampling run', '50')
    .option('--seed <n>', 'seed of batch 0 (batch j uses seed + j, for every schedule)', '0')
    .option('--out-dir <dir>', 'where the grids, table.md and eval.json go (with --shard: the shard folder)', 'ditto-eval')
    .option('--json', 'print the report as JSON instead of a table')
    .addOption(new Option('--device <kind>', 'gpu: compiled plans on WebGPU; reference: the CPU reference executor (slow)').choices(['gpu', 'reference']).default('gpu'))
    .option('--no-warmup', 'time the first run of each plan too (GPU)')
    .option('--bootstrap <n>', 'paired bootstrap resamples for FID: its standard error and a 95% interval of each row\'s FID difference from no cache (e.g. 200)')
    .option('--resume', 'save every sampled batch in OUT-DIR/eval-progress and continue from the batches saved there: an interrupted eval resumes, a finished one grows to more --samples')
    .option('--shard <i/N>', 'sample only shard i of N (whole batches; the same images whatever N) and write it to --out-dir for --merge')
    .option('--merge <dirs...>', 'score the shard folders of one evaluation as one: bit-identical to a single-process eval')
    .option('--queue <redis-url>', 'run the shards as BullMQ jobs on this Redis (redis://HOST:PORT) for `ditto worker`s, then merge')
    .option('--shards <n>', 'with --queue: how many shards (default: 8, at most one per batch)')
    // For `ditto worker`, which runs each shard as a child process: the settings the submitter
    // expects, and progress / parent-gone handling over the IPC channel.
    .addOption(new Option('--expect-settings <json>').hideHelp())
    .addOption(new Option('--ipc').hideHelp());
  addDeviceOptions(command)
    .action(async (file: string | undefined, flags: EvalFlags, cmd: Command) => {
      const bootstrap = flags.bootstrap !== undefined ? parseIntFlag('--bootstrap', flags.bootstrap, 2, 100_000) : undefined;
      if (!flags.outDir.trim()) throw new DittoError('E_USAGE', '--out-dir must name a folder');
      // No output may land on an input: shard folders and merged outputs included.
      const writesEval = (name: string) => /\.png$/i.test(name) || name === 'table.md' || name === 'eval.json';
      const writesShard = (name: string) => name === 'shard.json' || /^(images|features|logits)-\d+\.f(32|64)$/.test(name);
      refuseOverwrite([], [{ label: 'the model file', file }, { label: '--weights', file: flags.weights }, ...(flags.schedules ? scheduleListFiles('--schedules', flags.schedules) : [])],
        [{ label: '--out-dir', dir: flags.outDir, writes: (name) => (flags.shard !== undefined ? writesShard(name) : writesEval(name)) }]);
      const json = flags.json === true;
      if (flags.merge) {
        const extra = SAMPLING_OPTIONS.filter((k) => cmd.getOptionValueSource(k) === 'cli').map((k) => (k === 'warmup' ? '--no-warmup' : `--${k}`));
        if (file !== undefined) extra.unshift(`the model file '${file}'`);
        if (extra.length) throw new DittoError('E_USAGE', `--merge scores shards with the settings they were sampled with; drop ${extra.join(', ')}`);
        const report = await withProgress(json, async (update) => mergeEvalShardDirs(flags.merge!, { ...(bootstrap !== undefined ? { bootstrap } : {}), onProgress: update }));
        printReport(report, flags.outDir, json);
        return;
      }
      if (flags.shard !== undefined && flags.queue !== undefined) throw new DittoError('E_USAGE', '--shard and --queue do not combine: --queue cuts the shards itself (--shards N)');
      if (flags.shards !== undefined && flags.queue === undefined) throw new DittoError('E_USAGE', '--shards is for --queue; to sample one shard use --shard i/N');
      if (flags.resume && (flags.shard !== undefined || flags.queue !== undefined)) throw new DittoError('E_USAGE', `--resume does not combine with ${flags.shard !== undefined ? '--shard' : '--queue'}: a lost shard is rerun whole`);
      if (flags.shard !== undefined) {
        if (bootstrap !== undefined) throw new DittoError('E_USAGE', '--bootstrap is scoring: give it to --merge, which scores the union of the shards');
        const spec = parseShardSpec(flags.shard);
        const cfg = sampleConfig(file, flags);
        const expectSettings = flags.expectSettings !== undefined ? (JSON.parse(flags.expectSettings) as ProgressSettings) : undefined;
        const rows = cfg.schedules.length + 1;
        const toParent = flags.ipc && process.send ? process.send.bind(process) : undefined;
        // The worker that started this shard is gone: nobody will read the result.
        if (toParent) {
          process.once('disconnect', () => process.exit(EXIT_USER));
          // The channel must not keep this process alive once the shard is written.
          process.channel?.unref();
        }
        const shard = await withProgress(json, (update) =>
          runEvalShard(
            {
              ...cfg,
              onProgress: (p) => {
                update(p);
                if (toParent && p.phase === 'sample' && p.done % rows === 0) toParent({ samples: Math.min((p.done / rows) * cfg.batch, cfg.samples) });
              },
            },
            spec,
            expectSettings ? { expectSettings } : {},
          ),
        );
        const where = writeShard(flags.outDir, shard);
        const m = shard.meta;
        if (json) process.stdout.write(JSON.stringify({ ...m, file: where }, null, 2) + '\n');
        else process.stdout.write(`shard ${spec.index}/${spec.count}: samples ${m.samples.first}–${m.samples.end - 1} of ${m.totalSamples} (batches ${m.batches.first}–${m.batches.end - 1}) in ${m.wallSeconds.toFixed(1)} s on ${m.settings.device}\nwrote ${where}; score all shards with: ditto eval --merge DIR…\n`);
        return;
      }
      const cfg = sampleConfig(file, flags);
      if (flags.queue !== undefined) {
        const connection = parseRedisUrl(flags.queue);
        const shards = flags.shards !== undefined ? parseIntFlag('--shards', flags.shards, 1, 100_000) : Math.min(8, Math.ceil(cfg.samples / cfg.batch));
        const report = await withProgress(json, (update) =>
          runEvalOnQueue(cfg, { connection, shards, outDir: flags.outDir, onQueueProgress: (q) => update(queueProgress(q)), onProgress: update, ...(bootstrap !== undefined ? { bootstrap } : {}) }),
        );
        printReport(report, flags.outDir, json);
        return;
      }
      const report = await withProgress(json, (update) => runEval({ ...cfg, onProgress: update, ...(flags.resume ? { resumeDir: flags.outDir } : {}), ...(bootstrap !== undefined ? { bootstrap } : {}) }));
      printReport(report, flags.outDir, json);
    });
}
