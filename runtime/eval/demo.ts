/**
 * `ditto demo` (npm run demo): the embedded default model sampled with no cache and with EB-Cache
 * from the same noise, one column per class, shown side by side in demo.png with the measured
 * speed-up and the PSNR of the cached images against the uncached ones.
 *
 * Runs on the GPU when there is an adapter (lavapipe counts); without one it warns and samples on
 * the CPU reference executor, with one image per class instead of two unless asked otherwise.
 */
import { existsSync } from 'node:fs';
import { packagePath } from '../../core/packageRoot.ts';
import { DittoError, isDittoError } from '../../core/errors.ts';
import { writeFileAtomic } from '../../core/files.ts';
import { createGpu, type DeviceOptions, type GpuContext } from '../device.ts';
import { loadWeights } from '../weights/index.ts';
import { Canvas, gridSize } from './canvas.ts';
import { runEval } from './evaluate.ts';
import { textWidth } from './font5x7.ts';
import type { EvalDevice, EvalProgress, EvalReport, EvalRow } from './types.ts';


/**
 * The defaults. CFG 3: this small model's unguided samples are often ambiguous between similar
 * classes (shirt / T-shirt / pullover / coat); guidance at 3 makes every column clearly its class
 * while keeping texture, which a grid of two images per class is for (docs/eval.md has the numbers).
 */
export const DEMO_DEFAULTS = {
  modelFile: packagePath('models', 'fmnist.ditto'),
  model: 'DiT-FMNIST',
  weightsFile: packagePath('models', 'weights', 'fmnist-dit.safetensors'),
  schedule: 'ebcache_table',
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
  schedule?: string;
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
  cached: EvalRow;
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
  try {
    const classCount = 10;
    const samples = classCount * perClass;
    const report = await runEval({
      modelFile: d.modelFile,
      model: d.model,
      weights: weights.tensors,
      weightsFile: d.weightsFile,
      schedules: [d.schedule],
      samples,
      steps: d.steps,
      sampler: d.sampler,
      cfgScale: d.cfgScale,
      batch: samples,
      seed: d.seed,
      device: onCpu ? 'reference' : 'gpu',
      ...(gpu ? { gpu } : {}),
      // FID of 20 images says nothing; the class accuracy is still worth a line.
      fid: false,
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    });
    const [baseline, cached] = report.rows as [EvalRow, EvalRow];
    writeFileAtomic(d.out, composeDemoPng(report, baseline, cached));
    return { report, baseline, cached, perClass, reducedForCpu, fellBack: onCpu && (opts.device ?? 'auto') === 'auto', out: d.out };
  } finally {
    gpu?.device.destroy();
  }
}

const ZOOM = 2;
const PAD = 2;
const MARGIN = 12;
const GAP = 24;

/** Two labelled grids side by side: no cache on the left, the cached schedule on the right. */
export function composeDemoPng(rep: EvalReport, baseline: EvalRow, cached: EvalRow): Buffer {
  const [n, , h, w] = baseline.images.shape as [number, number, number, number];
  const columns = Math.max(1, Math.min(rep.classCount || 10, n));
  const g = gridSize(n, h * ZOOM, w * ZOOM, columns, PAD);
  const cfg = rep.cfgScale === null ? 'NO CFG' : `CFG ${rep.cfgScale}`;
  const panels = [
    { title: 'NO CACHE', lines: [`${rep.steps} STEPS ${rep.sampler.toUpperCase()}, ${cfg}`, `${baseline.seconds.toFixed(1)} S`], row: baseline },
    {
      title: cached.name === 'ebcache_table' ? 'EB-CACHE' : cached.name,
      lines: [`${cached.speedup.toFixed(2)}X FASTER`, `PSNR ${Number.isFinite(cached.psnr) ? cached.psnr.toFixed(1) + ' DB' : 'INF'}${cached.ssim !== null ? `, SSIM ${cached.ssim.toFixed(3)}` : ''}`],
      row: cached,
    },
  ];
  const titleH = 7 * 2;
  const lineH = 7 + 4;
  const headerH = titleH + 6 + panels[0]!.lines.length * lineH + 4 + 7 + 4; // title, stat lines, class digits
  const panelW = Math.max(g.width, ...panels.map((p) => Math.max(textWidth(p.title, 2), ...p.lines.map((l) => textWidth(l, 1)))));
  const canvas = new Canvas(2 * MARGIN + 2 * panelW + GAP, 2 * MARGIN + headerH + g.height);
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
  const lines = [
    `ditto demo: ${rep.model}, ${rep.steps} steps ${rep.sampler.toUpperCase()}, ${rep.cfgScale === null ? 'no CFG' : `CFG ${rep.cfgScale}`}, ${rep.samples} images (${r.perClass} per class) on ${rep.device}`,
    `  no cache         ${r.baseline.seconds.toFixed(2)} s`,
    `  ${r.cached.name.padEnd(15)}  ${r.cached.seconds.toFixed(2)} s   speed-up ${r.cached.speedup.toFixed(2)}x${r.cached.predictedSpeedup !== null ? ` (predicted ${r.cached.predictedSpeedup.toFixed(2)}x)` : ''}   PSNR ${Number.isFinite(r.cached.psnr) ? r.cached.psnr.toFixed(2) + ' dB' : '∞'}${r.cached.ssim !== null ? `   SSIM ${r.cached.ssim.toFixed(3)}` : ''}`,
    `  class accuracy (Fashion-MNIST classifier): no cache ${pct(r.baseline.accuracy)}, ${r.cached.name} ${pct(r.cached.accuracy)}`,
    `wrote ${r.out}`,
  ];
  return lines.join('\n') + '\n';
}
