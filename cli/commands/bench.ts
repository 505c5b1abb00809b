/**
 * `ditto bench [MODEL.ditto] --schedules a,b,c …` (also `npm run bench`): the all-compute baseline
 * and every schedule, interleaved on one device, then the ORT peer; writes report.md, report.json
 * and speed-fidelity.svg into --out-dir. Thin: bench/schedules.ts, bench/peer/dittoVsOrt.ts and
 * bench/scheduleReport.ts do the work. With no arguments it runs the committed DiT-S/2 report.
 */
import { Option, type Command } from 'commander';
import { availableParallelism, cpus, loadavg } from 'node:os';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../core/packageRoot.ts';
import { DittoError } from '../../core/errors.ts';
import { refuseOverwrite } from '../../core/outputGuard.ts';
import { scheduleListFiles } from '../inputFiles.ts';
import { parseSetFlag } from '../../compiler/frontend.ts';
import { openModel } from '../../compiler/compileSource.ts';
import { graphWeights } from '../../compiler/ir/graph.ts';
import { createGpu } from '../../runtime/device.ts';
import { loadWeights, randomWeights } from '../../runtime/weights/index.ts';
import { splitScheduleList } from '../../evaluation/eval/scheduleList.ts';
import { runScheduleBench } from '../../bench/schedules.ts';
import { benchPeer, exportConfigOf, type PeerResult } from '../../bench/peer/dittoVsOrt.ts';
import { ensureDitOnnx } from '../../bench/peer/ort.ts';
import { writeScheduleReport } from '../../bench/scheduleReport.ts';
import { formatCell } from '../../bench/report.ts';
import { readKernelTimesFile } from '../../compiler/plan/kernelTimes.ts';
import { addDeviceOptions, deviceOptionsOf, parseFloatFlag, parseIntFlag, type DeviceFlags } from '../options.ts';

const ROOT = PACKAGE_ROOT;
const DEFAULT_MODEL_FILE = path.join(ROOT, 'models', 'dit.ditto');
const DEFAULT_MODEL = 'DiT-S/2';
const RANDOM_WEIGHTS_SEED = 0;

interface BenchFlags extends DeviceFlags {
  model?: string;
  set?: string;
  weights?: string;
  schedules: string;
  steps: string;
  images: string;
  runs: string;
  cfg: string;
  sampler: 'ddpm' | 'ddim';
  seed: string;
  peer: 'ort' | 'none';
  peerRuns: string;
  outDir?: string;
  kernelTimes?: string;
}

function slug(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, '').replace(/^dit/, 'dit-') || 'model';
}

/** `--cfg none` (or off) samples without guidance; otherwise a finite scale. */
function parseCfg(text: string): number | undefined {
  if (/^(none|off)$/i.test(text.trim())) return undefined;
  return parseFloatFlag('--cfg', text);
}

export function registerBench(program: Command): void {
  const command = program
    .command('bench')
    .description('benchmark cache schedules against the all-compute baseline (speed, fidelity, memory) and ditto against onnxruntime-node; writes report.md/.json and a plot')
    .argument('[model-file]', 'the .ditto file declaring the model', path.relative(process.cwd(), DEFAULT_MODEL_FILE) || DEFAULT_MODEL_FILE)
    .option('--model <name>', `the model or variant (default ${DEFAULT_MODEL} for models/dit.ditto, else the file's only model)`)
    .option('--set <key=value,…>', 'override model parameters')
    .option('--weights <file>', `model weights (.safetensors or .pt); default: random weights, seeded (${RANDOM_WEIGHTS_SEED})`)
    .option('--schedules <list>', 'comma-separated schedules: names (fora(N=3), ebcache_table), .ditto files or FILE.ditto:NAME', 'ebcache_table,fora(N=3),smoothcache,taylorseer')
    .option('--steps <n>', 'sampling steps', '50')
    .option('--images <k>', 'images per sampling run (the batch)', '1')
    .option('--runs <r>', 'timed runs per plan (interleaved)', '2')
    .option('--cfg <scale>', 'classifier-free guidance scale, or none', '1.5')
    .addOption(new Option('--sampler <kind>', 'sampler').choices(['ddpm', 'ddim']).default('ddpm'))
    .option('--seed <n>', 'noise seed (the same for every plan)', '0')
    .addOption(new Option('--peer <engine>', 'also time one no-cache forward against onnxruntime-node (WebGPU and CPU); needs python3 with torch for the ONNX export').choices(['ort', 'none']).default('ort'))
    .option('--peer-runs <n>', 'timed forwards per engine in the peer comparison', '3')
    .option('--kernel-times <file>', 'predict with these kernel times (an earlier bench\'s report.json, a search\'s front.json) instead of measuring them on probe plans first')
    .option('--out-dir <dir>', 'where report.md, report.json and speed-fidelity.svg go (default bench/results/<model>-schedules)');
  addDeviceOptions(command)
    .action(async (file: string, flags: BenchFlags) => {
      const deviceOptions = deviceOptionsOf(flags);
      const steps = parseIntFlag('--steps', flags.steps, 1, 1000);
      const images = parseIntFlag('--images', flags.images, 1, 256);
      const runs = parseIntFlag('--runs', flags.runs, 1, 1000);
      const peerRuns = parseIntFlag('--peer-runs', flags.peerRuns, 1, 1000);
      const seed = parseIntFlag('--seed', flags.seed, 0, 2 ** 32 - 1);
      const cfgScale = parseCfg(flags.cfg);
      const schedules = splitScheduleList(flags.schedules);
      const set = flags.set ? parseSetFlag(flags.set) : undefined;
      const model = flags.model ?? (path.resolve(file) === DEFAULT_MODEL_FILE ? DEFAULT_MODEL : undefined);
      if (flags.outDir !== undefined && !flags.outDir.trim()) throw new DittoError('E_USAGE', '--out-dir must name a folder');
      refuseOverwrite([], [{ label: 'the model file', file }, { label: '--weights', file: flags.weights }, { label: '--kernel-times', file: flags.kernelTimes }, ...scheduleListFiles('--schedules', flags.schedules)],
        [{ label: '--out-dir', dir: flags.outDir, writes: (name) => ['report.md', 'report.json', 'speed-fidelity.svg'].includes(name) }]);

      const kernelTimes = flags.kernelTimes !== undefined ? readKernelTimesFile(flags.kernelTimes, '--kernel-times') : undefined;

      // Lowering here checks the model file and names before anything slow, and gives the weight list.
      const batch = cfgScale !== undefined ? 2 * images : images;
      const source = openModel(file, { model, set, batch: images, cfg: cfgScale !== undefined });
      const { graph } = source;
      const modelName = model ?? graph.model;
      const outDir = flags.outDir ?? path.join(ROOT, 'bench', 'results', `${slug(modelName)}-schedules`);
      const weights = flags.weights ? loadWeights(flags.weights).tensors : randomWeights(graphWeights(graph), RANDOM_WEIGHTS_SEED);
      const weightsLabel = flags.weights ?? `random, seeded (ditto randomWeights, seed ${RANDOM_WEIGHTS_SEED}); the peer uses the ONNX export's own seeded random weights`;
      // The ONNX export (python3 + torch) is the step most likely to be missing: do it first.
      if (flags.peer === 'ort') ensureDitOnnx(exportConfigOf(graph, modelName, batch, set), flags.weights);

      const log = (s: string) => process.stderr.write(`${s}\n`);
      const gpu = await createGpu(deviceOptions);
      log(`adapter: ${gpu.report.name}`);
      const loadBefore = loadavg();
      const started = performance.now();
      try {
        const result = await runScheduleBench({
          modelFile: file, source, ...(model ? { model } : {}), ...(set ? { set } : {}),
          weights, weightsFile: flags.weights ?? 'random weights',
          schedules, steps, images, runs, sampler: flags.sampler, seed, gpu, onProgress: log,
          ...(cfgScale !== undefined ? { cfgScale } : {}), ...(kernelTimes ? { kernelTimes } : {}),
        });
        let peer: PeerResult | undefined;
        if (flags.peer === 'ort') {
          peer = await benchPeer({
            modelFile: file, ...(model ? { model } : {}), ...(set ? { set } : {}), batch,
            ...(flags.weights ? { weightsFile: flags.weights } : {}),
            eps: ['webgpu', 'cpu'], runs: peerRuns, warmup: 1, gpu, onProgress: log,
          });
        }
        const files = writeScheduleReport(outDir, result, {
          adapter: gpu.report.name,
          command: `ditto bench ${process.argv.slice(3).join(' ')}`.trim(),
          steps, images, runs, cfgScale: cfgScale ?? null, sampler: flags.sampler, seed,
          weights: weightsLabel,
          loadBefore, loadAfter: loadavg(),
          cpus: `${cpus()[0]?.model ?? 'unknown'} × ${availableParallelism()}`,
          wallSeconds: (performance.now() - started) / 1000,
        }, peer);
        for (const r of result.rows) {
          process.stdout.write(`${r.name.padEnd(24)} ${formatCell(r.perImage.median)} s/image  ×${formatCell(r.speedup)} (predicted ×${formatCell(r.predictedSpeedup)}, realised ${formatCell(r.realised)}; roofline ×${formatCell(r.rooflineSpeedup)}, realised ${formatCell(r.realisedRoofline)})  PSNR ${formatCell(r.fidelity.psnr)} dB\n`);
        }
        for (const r of peer?.rows ?? []) process.stdout.write(`${r.engine.padEnd(24)} ${formatCell(r.forward.median)} ms/forward\n`);
        process.stdout.write(`wrote ${files.md}, ${files.json} and ${files.svg}\n`);
      } finally {
        gpu.device.destroy();
      }
    });
}
