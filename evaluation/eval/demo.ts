/**
 * `ditto demo` (npm run demo): the embedded default model sampled from the same noise with no cache,
 * with EB-Cache as released, and with the best schedule the project has measured for this model
 * and sampler — one column per class, three grids side by side in demo.png. Each grid is captioned
 * with the speed-up measured now and the FID change the experiment measured at 2 000 samples
 * (docs/experiment-fmnist/), so a newcomer sees what caching costs and what the right schedule saves.
 *
 * Runs on the GPU when there is an adapter (lavapipe counts); without one it warns and samples on
 * the CPU reference executor, with one image per class instead of two unless asked otherwise.
 */
import { existsSync } from 'node:fs';
import { packagePath } from '../../core/packageRoot.ts';
import { DittoError, isDittoError } from '../../core/errors.ts';
import { writeFileAtomic } from '../../core/files.ts';
import { createGpu, type DeviceOptions, type GpuContext } from '../../runtime/device.ts';
import { loadWeights } from '../../runtime/weights/index.ts';
import { Canvas, gridSize } from './canvas.ts';
import { runEval } from './evaluate.ts';
import { textWidth } from './font5x7.ts';
import type { EvalDevice, EvalProgress, EvalReport, EvalRow } from './types.ts';


/** What docs/experiment-fmnist measured for a demo column: DDPM, 50 steps, CFG 3, 2 000 samples. */
export interface MeasuredFid {
  /** FID over the Fashion-MNIST classifier's features. */
  fid: number;
  /** Wall-clock speed-up over no cache in that experiment (lavapipe). */
  speedup: number;
}

/** A cached grid of the demo: the schedule, its caption, and what the experiment measured for it. */
export interface DemoColumn {
  schedule: string;
  title: string;
  /** One line saying what the schedule does. */
  note?: string;
  measured?: MeasuredFid;
}

/**
 * The experiment the captions quote: docs/experiment-fmnist/ddpm/eval.json (test/eval/demoFacts.test.ts
 * checks these figures against it). Under DDPM — the sampler the released EB-Cache code runs, and
 * the demo's — the best measured schedule is the released table read in sampling order with the eps
 * scale: FID 55.59 against 56.58 at 1.44×, the only row whose whole 95% interval lies below no cache
 * by more than half a point; FORA N = 2 is faster (1.80×) but costs 20 FID points.
 */
export const DEMO_EXPERIMENT = { samples: 2000, noCacheFid: 56.58, source: 'docs/experiment-fmnist/ddpm/eval.json' } as const;

/** Images per sampling batch (the grid has 10 × per-class images). */
const DEMO_BATCH = 5;

export const DEMO_COLUMNS: readonly DemoColumn[] = [
  { schedule: 'ebcache_table', title: 'EB-CACHE AS RELEASED', note: 'TABLE IN COUNT-DOWN ORDER, EPS / 0.965', measured: { fid: 105.11, speedup: 1.44 } },
  { schedule: 'ebcache_table_sampling', title: 'BEST MEASURED', note: 'SAME TABLE IN SAMPLING ORDER, EPS / 0.965', measured: { fid: 55.59, speedup: 1.44 } },
];

/**
 * The defaults. CFG 3: this small model's unguided samples are often ambiguous between similar
 * classes (shirt / T-shirt / pullover / coat); guidance at 3 makes every column clearly its class
 * while keeping texture, which a grid of two images per class is for (docs/eval.md has the numbers).
 */
export const DEMO_DEFAULTS = {
  modelFile: packagePath('models', 'fmnist.ditto'),
  model: 'DiT-FMNIST',
  weightsFile: packagePath('models', 'weights', 'fmnist-dit.safetensors'),
  /** The cached columns, left to right (the --schedule flag replaces them). */
  columns: DEMO_COLUMNS as readonly DemoColumn[],
  steps: 50,
  sampler: 'ddpm' as const,
  cfgScale: 3,
  perClass: 2,
  /** On the CPU reference executor, unless --per-class is given. */
  perClassOnCpu: 1,
  seed: 0,
  out: 'demo.png',
};

export interface DemoOptions {
  modelFile?: string;
  model?: string;
  weightsFile?: string;
  /** Cached schedules instead of DEMO_COLUMNS (names or specs, e.g. `fora(N=2)`); their captions carry no measured FID. */
  schedules?: readonly string[];
  steps?: number;
  sampler?: 'ddpm' | 'ddim';
  cfgScale?: number;
  /** Images per class; default 2 (1 on the CPU fallback). */
  perClass?: number;
  seed?: number;
  out?: string;
  /** auto: the GPU if an adapter opens, else the reference executor with a warning. */
  device?: EvalDevice | 'auto';
  /** Backend and Dawn toggles of the adapter. */
  deviceOptions?: DeviceOptions;
  warn?: (message: string) => void;
  onProgress?: (p: EvalProgress) => void;
}

export interface DemoResult {
  report: EvalReport;
  baseline: EvalRow;
  /** One row per cached column, in DemoResult.columns' order. */
  cached: EvalRow[];
  columns: DemoColumn[];
  perClass: number;
  /** True when the grid was made smaller because the demo fell back to the CPU. */
  reducedForCpu: boolean;
  fellBack: boolean;
  out: string;
}

export function missingWeightsMessage(file: string): string {
  return [
    `the demo model's weights '${file}' do not exist.`,
    'They ship with ditto (models/weights/fmnist-dit.safetensors); to make them yourself, train the model (about two hours on two cores):',
    '  OPENBLAS_NUM_THREADS=1 python3 tools/train/train_fmnist.py',
    'or export the latest checkpoint of a training run in progress:',
    '  OPENBLAS_NUM_THREADS=1 python3 tools/train/train_fmnist.py --export-only',
    'or point the demo at other weights with --weights FILE.',
  ].join('\n');
}

/** Opens the adapter, or (device auto) warns and returns undefined when there is none. */
async function pickDevice(device: EvalDevice | 'auto', options: DeviceOptions, warn: (m: string) => void): Promise<GpuContext | undefined> {
  if (device === 'reference') return undefined;
  try {
    return await createGpu(options);
  } catch (e) {
    if (device === 'gpu' || !isDittoError(e) || e.code !== 'E_NO_ADAPTER') throw e;
    warn(`no WebGPU adapter, so the demo runs on the CPU reference executor instead (slower; the same images a GPU would make, up to rounding).\n${e.message}`);
    return undefined;
  }
}

export async function runDemo(opts: DemoOptions = {}): Promise<DemoResult> {
  const d = { ...DEMO_DEFAULTS, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) } as typeof DEMO_DEFAULTS & DemoOptions;
  const warn = opts.warn ?? ((m: string) => process.stderr.write(`warning: ${m}\n`));
  if (!existsSync(d.weightsFile)) throw new DittoError('E_IO', missingWeightsMessage(d.weightsFile));
  const weights = loadWeights(d.weightsFile);
  const gpu = await pickDevice(opts.device ?? 'auto', opts.deviceOptions ?? {}, warn);
  const onCpu = gpu === undefined;
  const perClass = opts.perClass ?? (onCpu ? d.perClassOnCpu : d.perClass);
  if (!Number.isInteger(perClass) || perClass < 1) throw new DittoError('E_USAGE', `--per-class must be a whole number ≥ 1, got ${perClass}`);
  const reducedForCpu = onCpu && opts.perClass === undefined && perClass < d.perClass;
  if (reducedForCpu) warn(`on the CPU the grid has ${perClass} image${perClass === 1 ? '' : 's'} per class instead of ${d.perClass} (pass --per-class ${d.perClass} for the full grid)`);
  const columns = opts.schedules ? opts.schedules.map((schedule) => ({ schedule, title: schedule.replace(/_/g, ' ') })) : [...d.columns];
  if (columns.length === 0) throw new DittoError('E_USAGE', 'the demo needs at least one cached schedule');
  try {
    const classCount = 10;
    const samples = classCount * perClass;
    const report = await runEval({
      modelFile: d.modelFile,
      model: d.model,
      weights: weights.tensors,
      weightsFile: d.weightsFile,
      schedules: columns.map((c) => c.schedule),
      samples,
      steps: d.steps,
      sampler: d.sampler,
      cfgScale: d.cfgScale,
      // Several batches per row, which runEval interleaves row by row: on a shared machine a drift
      // in load then spreads over every row instead of landing on whichever row ran at the time.
      batch: samples % DEMO_BATCH === 0 ? DEMO_BATCH : samples,
      seed: d.seed,
      device: onCpu ? 'reference' : 'gpu',
      ...(gpu ? { gpu } : {}),
      // FID of 20 images says nothing; the class accuracy is still worth a line.
      fid: false,
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    });
    const [baseline, ...cached] = report.rows as [EvalRow, ...EvalRow[]];
    writeFileAtomic(d.out, composeDemoPng(report, baseline, cached.map((row, i) => ({ row, column: columns[i]! }))));
    return { report, baseline, cached, columns, perClass, reducedForCpu, fellBack: onCpu && (opts.device ?? 'auto') === 'auto', out: d.out };
  } finally {
    gpu?.device.destroy();
  }
}

const ZOOM = 2;
const PAD = 2;
const MARGIN = 12;
const GAP = 24;

const fmt1 = (x: number) => x.toFixed(1);
const signed = (x: number) => `${x >= 0 ? '+' : '-'}${Math.abs(x).toFixed(1)}`;

/** The FID a column's caption quotes: the change from no cache, the FID and the speed-up measured then. */
function measuredLine(m: MeasuredFid | undefined): string {
  if (!m) return 'FID NOT MEASURED FOR THIS SCHEDULE';
  return `FID ${signed(m.fid - DEMO_EXPERIMENT.noCacheFid)} (${fmt1(m.fid)}) AT ${m.speedup.toFixed(2)}X, ${DEMO_EXPERIMENT.samples} SAMPLES`;
}

/** Labelled grids side by side: no cache on the left, then each cached column. */
export function composeDemoPng(rep: EvalReport, baseline: EvalRow, cached: readonly { row: EvalRow; column: DemoColumn }[]): Buffer {
  const [n, , h, w] = baseline.images.shape as [number, number, number, number];
  const columns = Math.max(1, Math.min(rep.classCount || 10, n));
  const g = gridSize(n, h * ZOOM, w * ZOOM, columns, PAD);
  const cfg = rep.cfgScale === null ? 'NO CFG' : `CFG ${rep.cfgScale}`;
  const psnr = (r: EvalRow) => `PSNR ${Number.isFinite(r.psnr) ? r.psnr.toFixed(1) + ' DB' : 'INF'}`;
  const panels = [
    { title: 'NO CACHE', lines: [`${baseline.seconds.toFixed(1)} S HERE`, `FID ${fmt1(DEMO_EXPERIMENT.noCacheFid)}, ${DEMO_EXPERIMENT.samples} SAMPLES`, `${rep.steps} STEPS ${rep.sampler.toUpperCase()}, ${cfg}`], row: baseline },
    ...cached.map(({ row, column }) => ({
      title: column.title,
      lines: [`${row.speedup.toFixed(2)}X FASTER HERE${row.predictedSpeedup !== null ? ` (${row.predictedSpeedup.toFixed(2)}X PREDICTED)` : ''}, ${psnr(row)}`, measuredLine(column.measured), column.note ?? ''],
      row,
    })),
  ];
  const titleH = 7 * 2;
  const lineH = 7 + 4;
  const headerH = titleH + 6 + 3 * lineH + 4 + 7 + 4; // title, three caption lines, class digits
  const panelW = Math.max(g.width, ...panels.map((p) => Math.max(textWidth(p.title, 2), ...p.lines.map((l) => textWidth(l, 1)))));
  const canvas = new Canvas(2 * MARGIN + panels.length * panelW + (panels.length - 1) * GAP, 2 * MARGIN + headerH + g.height);
  panels.forEach((p, i) => {
    const x = MARGIN + i * (panelW + GAP);
    let y = MARGIN;
    canvas.text(p.title, x, y, 2);
    y += titleH + 6;
    for (const l of p.lines) {
      canvas.text(l, x, y, 1, 80);
      y += lineH;
    }
    y += 4;
    // The class of each column (image g has class g mod classes).
    for (let c = 0; c < columns; c++) canvas.text(String(c % 10), x + c * (w * ZOOM + PAD) + Math.floor((w * ZOOM - 5) / 2), y, 1, 120);
    y += 7 + 4;
    canvas.grid(p.row.images, x, y, columns, PAD, ZOOM);
  });
  return canvas.encodePng();
}

/** The lines the demo prints. */
export function formatDemoSummary(r: DemoResult): string {
  const rep = r.report;
  const pct = (x: number | null) => (x === null ? '—' : `${(100 * x).toFixed(0)}%`);
  const width = Math.max(15, ...r.cached.map((c) => c.name.length));
  const measured = (m: MeasuredFid | undefined) =>
    m ? `   measured at ${DEMO_EXPERIMENT.samples} samples: FID ${signed(m.fid - DEMO_EXPERIMENT.noCacheFid)} (${m.fid.toFixed(2)}) at ${m.speedup.toFixed(2)}x` : '';
  const lines = [
    `ditto demo: ${rep.model}, ${rep.steps} steps ${rep.sampler.toUpperCase()}, ${rep.cfgScale === null ? 'no CFG' : `CFG ${rep.cfgScale}`}, ${rep.samples} images (${r.perClass} per class) on ${rep.device}`,
    `  ${'no cache'.padEnd(width)}  ${r.baseline.seconds.toFixed(2)} s${r.columns.some((c) => c.measured) ? `   measured at ${DEMO_EXPERIMENT.samples} samples: FID ${DEMO_EXPERIMENT.noCacheFid.toFixed(2)}` : ''}`,
    ...r.cached.map((c, i) =>
      `  ${c.name.padEnd(width)}  ${c.seconds.toFixed(2)} s   speed-up ${c.speedup.toFixed(2)}x${c.predictedSpeedup !== null ? ` (predicted ${c.predictedSpeedup.toFixed(2)}x)` : ''}   PSNR ${Number.isFinite(c.psnr) ? c.psnr.toFixed(2) + ' dB' : '∞'}${c.ssim !== null ? `   SSIM ${c.ssim.toFixed(3)}` : ''}${measured(r.columns[i]?.measured)}`),
    `  class accuracy (Fashion-MNIST classifier): no cache ${pct(r.baseline.accuracy)}, ${r.cached.map((c) => `${c.name} ${pct(c.accuracy)}`).join(', ')}`,
    `  FID figures: ${DEMO_EXPERIMENT.source} (docs/experiment-fmnist/README.md); speed-ups and PSNR: this run`,
    `wrote ${r.out}`,
  ];
  return lines.join('\n') + '\n';
}
