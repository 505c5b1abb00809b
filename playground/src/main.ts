/**
 * The playground page: the editor, the live analysis (diagnostics, heatmap, predicted speed-up,
 * FLOPs, peak memory), the examples, the URL state, and Generate. Everything ditto-specific is
 * ditto's own modules; this file only wires them to the page.
 *
 * For tests and measurements the page publishes `window.__ditto`: `ready`, the last analysis
 * summary, and after Generate the result (images, timings, metrics, the plans).
 */
import { isDittoError } from '../../core/errors.ts';
import type { Diagnostic } from '../../grammar/diagnostics.ts';
import { CAPS_PROFILES, compileCapsFor, type CompileCaps } from '../../compiler/plan/caps.ts';
import type { Plan } from '../../compiler/plan/types.ts';
import { createGpu, type GpuContext } from '../../runtime/device.ts';
import { preparePipelines } from '../../runtime/run/runner.ts';
import { listVirtualFiles } from '../shims/fs.ts';
import { readFileSync } from '../shims/fs.ts';
import { analyze, baselinePlan, EDITOR_FILE, type Analysis, type SampleSettings } from './analyze.ts';
import { createEditor, setEditorText } from './editor.ts';
import { generate, classifierFromTensors, type GenerateResult } from './generate.ts';
import { drawGrid } from './grid.ts';
import { readState, writeState, type PageState } from './urlState.ts';
import { fetchCached, parseSafetensors } from './weights.ts';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const DEFAULT_EXAMPLE = 'ebcache-table.ditto';
const CFG = 3;

interface PageApi {
  ready: boolean;
  /** Replaces the editor's text as a user edit would (tests use it; the linter then runs as usual). */
  setText?: (text: string) => void;
  adapter?: string;
  /** The last analysis shown, and `source`, the text it is of (edits are analysed after a pause). */
  analysis?: { source?: string; schedule?: string; predictedSpeedup?: number; flops?: number; peakMemoryBytes?: number; svg?: string; diagnostics: { line?: number; column?: number; message: string; severity: string }[] };
  result?: {
    seconds: { baseline: number; cached: number };
    speedup: number;
    psnr: number;
    ssim: number | null;
    accuracy: { baseline: number; cached: number };
    baseline: { plan: unknown; images: number[]; shape: number[] };
    cached: { plan: unknown; images: number[]; shape: number[] };
    seed: number;
    /** Seconds from navigation start to both grids drawn. */
    sinceLoad: number;
    /** Where that time went: seconds from navigation start at the end of each phase of the page. */
    phases: Record<string, number>;
    /** Seconds Generate waited for pipelines, and per row the seconds of setup (buffers, weights,
     *  pipelines) and of warm-up: all outside the timed runs. */
    setup: { kernelWait: number; baseline: { setup: number; warmUp: number }; cached: { setup: number; warmUp: number } };
  };
  error?: string;
}
const api: PageApi = { ready: false };
/** The page's phases as they end (seconds since navigation), for window.__ditto.result.phases. */
const phases: Record<string, number> = { script: performance.now() / 1000 };
const phaseDone = (name: string) => (phases[name] = performance.now() / 1000);
(window as unknown as { __ditto: PageApi }).__ditto = api;

const examples = new Map(listVirtualFiles('/ditto/models/schedules/').filter((p) => p.endsWith('.ditto')).map((p) => [p.split('/').pop()!, String(readFileSync(p, 'utf8'))]));
const state: PageState = readState(location.hash);
let caps: CompileCaps = CAPS_PROFILES.hardware!;
let gpu: GpuContext | undefined;
let last: Analysis | undefined;
/** What `last` was computed from: an identical request is answered from it. */
let lastKey: string | undefined;
/**
 * The adapter is asked for first thing (Chromium starts its GPU process meanwhile); this settles
 * once it is open or has failed to open. The compiler's caps follow from it.
 */
const gpuOpened = openGpu();

/**
 * Starts building a plan's pipelines on the page's GPU in the background, so that Generate finds
 * them ready (shader compilation is most of its setup on a software adapter). A failure is left
 * to Generate, which reports it.
 */
function preparePlan(plan: Plan | undefined): void {
  if (gpu && plan) preparePipelines(gpu, plan).catch(() => undefined);
}

const settings = (): SampleSettings => ({ steps: state.steps, images: state.images, cfgScale: CFG, sampler: 'ddpm' });

function showMessage(text: string, kind: 'warning' | 'error' = 'warning'): void {
  const el = $('gpu-message');
  el.textContent = text;
  el.className = `message ${kind}`;
  el.hidden = false;
}

function fmtFlops(f: number): string {
  const units: [number, string][] = [[1e12, 'TFLOP'], [1e9, 'GFLOP'], [1e6, 'MFLOP']];
  for (const [v, u] of units) if (f >= v) return `${(f / v).toFixed(2)} ${u}`;
  return `${f.toFixed(0)} FLOP`;
}
const fmtBytes = (b: number) => (b >= 2 ** 20 ? `${(b / 2 ** 20).toFixed(1)} MiB` : `${(b / 1024).toFixed(1)} KiB`);
const stat = (label: string, value: string) => `<div>${label} <b>${value}</b></div>`;

function renderAnalysis(a: Analysis): void {
  const problems = $('problems');
  problems.innerHTML = '';
  for (const d of a.diagnostics) {
    const line = document.createElement('div');
    line.className = d.severity;
    line.textContent = `${d.span ? `line ${d.span.line}:${d.span.column}: ` : ''}${d.severity}: ${d.message}`;
    problems.append(line);
  }
  if (a.error) problems.append(Object.assign(document.createElement('div'), { textContent: `error: ${a.error}` }));
  const sel = $<HTMLSelectElement>('schedule');
  const names = a.schedules.join('\n');
  if (sel.dataset.names !== names) {
    sel.dataset.names = names;
    sel.innerHTML = '';
    for (const n of a.schedules) sel.append(new Option(n, n));
  }
  if (a.schedule) sel.value = a.schedule;
  if (a.plan && a.summary && a.svg) {
    $('heatmap').innerHTML = a.svg;
    // The SVG has a fixed size; a viewBox lets it scale down to the column instead of being cropped.
    const svg = $('heatmap').querySelector('svg');
    if (svg && !svg.hasAttribute('viewBox')) svg.setAttribute('viewBox', `0 0 ${svg.getAttribute('width')} ${svg.getAttribute('height')}`);
    const s = a.summary;
    const flops = s.flopsPerStep.reduce((x, y) => x + y, 0);
    $('stats').innerHTML = [
      stat('predicted speed-up', `${s.predictedSpeedup.toFixed(2)}×`),
      stat('FLOPs', `${fmtFlops(flops)} (${(100 * s.flopsRatio).toFixed(1)}% of no cache)`),
      stat('peak memory', fmtBytes(s.peakMemoryBytes)),
      stat('kernels', String(s.kernels)),
      stat('caps', caps.name),
    ].join('');
  }
  $<HTMLButtonElement>('generate').disabled = !a.plan || !gpu;
  api.analysis = {
    ...(a.schedule ? { schedule: a.schedule } : {}),
    ...(a.summary ? { predictedSpeedup: a.summary.predictedSpeedup, flops: a.summary.flopsPerStep.reduce((x, y) => x + y, 0), peakMemoryBytes: a.summary.peakMemoryBytes } : {}),
    ...(a.svg ? { svg: a.svg } : {}),
    diagnostics: a.diagnostics.map((d) => ({ ...(d.span ? { line: d.span.line, column: d.span.column } : {}), message: d.message, severity: d.severity })),
  };
}

/** Runs the checker and compiler on the text; returns the diagnostics that belong in the editor. */
function check(text: string): Diagnostic[] {
  state.src = text;
  const key = JSON.stringify([text, state.name, settings(), caps]);
  if (key !== lastKey || !last) {
    try {
      last = analyze(text, state.name, settings(), caps);
    } catch (e) {
      last = { diagnostics: [], schedules: [], error: isDittoError(e) ? e.message : String(e) };
    }
    lastKey = key;
    preparePlan(last.plan);
  }
  if (last.schedule) state.name = last.schedule;
  renderAnalysis(last);
  api.analysis!.source = text;
  history.replaceState(null, '', writeState(state));
  return last.diagnostics.filter((d) => !d.span || d.span.file === EDITOR_FILE);
}

// The linter's first run waits for the adapter: compiled before it, the plan would be compiled
// again for the adapter's caps.
const editor = createEditor($('editor'), state.src ?? examples.get(DEFAULT_EXAMPLE) ?? '', {
  check: async (text) => {
    await gpuOpened;
    return check(text);
  },
  onChange: () => undefined,
});

api.setText = (text) => setEditorText(editor, text);

function setupControls(): void {
  const ex = $<HTMLSelectElement>('examples');
  ex.append(new Option('(load an example)', ''));
  for (const name of examples.keys()) ex.append(new Option(name, name));
  ex.addEventListener('change', () => {
    const text = examples.get(ex.value);
    if (text === undefined) return;
    state.name = undefined;
    setEditorText(editor, text);
    ex.value = '';
  });
  $<HTMLSelectElement>('schedule').addEventListener('change', (e) => {
    state.name = (e.target as HTMLSelectElement).value;
    check(editor.state.doc.toString());
  });
  const num = (id: 'steps' | 'images' | 'seed') => {
    const el = $<HTMLInputElement>(id);
    el.value = String(state[id]);
    el.addEventListener('change', () => {
      const v = Number(el.value);
      const [lo, hi] = id === 'steps' ? [1, 1000] : id === 'images' ? [1, 40] : [0, 2 ** 32 - 1];
      if (!Number.isInteger(v) || v < lo || v > hi) {
        el.value = String(state[id]);
        return;
      }
      state[id] = v;
      check(editor.state.doc.toString());
    });
  };
  num('steps');
  num('images');
  num('seed');
  $('generate').addEventListener('click', () => void onGenerate());
}

let weights: Promise<{ model: Map<string, import('../../core/tensor.ts').Tensor>; classifier: ReturnType<typeof classifierFromTensors> }> | undefined;

/** Where the download's progress goes: the latest caller's (a prefetch reports nowhere until Generate asks). */
let weightsProgress: (f: number, text: string) => void = () => undefined;

function loadWeights(progress: (f: number, text: string) => void): NonNullable<typeof weights> {
  weightsProgress = progress;
  weights ??= (async () => {
    const sizes = new Map<string, [number, number]>();
    const report = () => {
      let l = 0;
      let t = 0;
      for (const [a, b] of sizes.values()) (l += a), (t += b);
      weightsProgress(t ? l / t : 0, `weights ${(l / 2 ** 20).toFixed(1)} / ${(t / 2 ** 20).toFixed(1)} MiB`);
    };
    const get = (url: string) => fetchCached(url, (l, t) => (sizes.set(url, [l, t]), report()));
    const [m, c] = await Promise.all([get('weights/fmnist-dit.safetensors'), get('weights/fmnist-classifier.safetensors')]);
    return { model: parseSafetensors(m, 'fmnist-dit.safetensors'), classifier: classifierFromTensors(parseSafetensors(c, 'fmnist-classifier.safetensors'), 'fmnist-classifier.safetensors') };
  })();
  weights.catch(() => (weights = undefined));
  return weights;
}

async function onGenerate(): Promise<void> {
  const button = $<HTMLButtonElement>('generate');
  const bar = $<HTMLProgressElement>('progress');
  const phase = $('phase');
  if (!gpu || !last?.plan) {
    api.error = !gpu ? 'Generate needs a WebGPU adapter' : 'Generate needs a schedule that checks and compiles';
    phase.textContent = api.error;
    return;
  }
  button.disabled = true;
  bar.hidden = false;
  const progress = (f: number, text: string) => ((bar.value = f), (phase.textContent = text));
  try {
    // The no-cache plan is compiled, and its pipelines started, while the weights download.
    const weightsLoaded = loadWeights(progress);
    const baseline = baselinePlan(settings(), caps);
    preparePlan(baseline);
    phaseDone('baseline plan');
    const w = await weightsLoaded;
    phaseDone('weights');
    const r = await generate({
      gpu,
      weights: w.model,
      classifier: w.classifier,
      baseline,
      cached: last.plan,
      seed: state.seed,
      onPhase: (text, f) => progress(f, text),
    });
    phaseDone('rows and metrics');
    showResult(r);
    progress(1, 'done');
  } catch (e) {
    const msg = isDittoError(e) ? `${e.code}: ${e.message}` : String((e as Error)?.stack ?? e);
    api.error = msg;
    showMessage(`Generate failed: ${msg}`, 'error');
    phase.textContent = 'failed';
  } finally {
    button.disabled = false;
  }
}

function showResult(r: GenerateResult): void {
  $('results').hidden = false;
  drawGrid($<HTMLCanvasElement>('base-grid'), r.baseline.images);
  drawGrid($<HTMLCanvasElement>('cached-grid'), r.cached.images);
  $('base-time').textContent = `— ${r.baseline.seconds.toFixed(2)} s`;
  $('cached-title').innerHTML = '';
  $('cached-title').append(`${r.cached.plan.schedule.name} `, Object.assign(document.createElement('span'), { textContent: `— ${r.cached.seconds.toFixed(2)} s` }));
  const f = r.fidelity;
  $('result-stats').innerHTML = [
    stat('measured speed-up', `${r.speedup.toFixed(2)}×`),
    stat('PSNR vs no cache', Number.isFinite(f.psnr) ? `${f.psnr.toFixed(2)} dB` : '∞ (identical)'),
    stat('SSIM', f.ssim === null ? 'n/a' : f.ssim.toFixed(4)),
    stat('class accuracy', `${(100 * r.baseline.accuracy).toFixed(0)}% → ${(100 * r.cached.accuracy).toFixed(0)}%`),
    stat('seed', String(r.seed)),
  ].join('');
  api.result = {
    seconds: { baseline: r.baseline.seconds, cached: r.cached.seconds },
    speedup: r.speedup,
    psnr: f.psnr,
    ssim: f.ssim,
    accuracy: { baseline: r.baseline.accuracy, cached: r.cached.accuracy },
    baseline: { plan: r.baseline.plan, images: Array.from(r.baseline.images.data), shape: [...r.baseline.images.shape] },
    cached: { plan: r.cached.plan, images: Array.from(r.cached.images.data), shape: [...r.cached.images.shape] },
    seed: r.seed,
    sinceLoad: performance.now() / 1000,
    phases: { ...phases, drawn: performance.now() / 1000 },
    setup: { kernelWait: r.kernelWaitSeconds, baseline: { setup: r.baseline.setupSeconds, warmUp: r.baseline.warmUpSeconds }, cached: { setup: r.cached.setupSeconds, warmUp: r.cached.warmUpSeconds } },
  };
}

async function openGpu(): Promise<void> {
  try {
    // ?compat asks for a compatibility-mode adapter (OpenGL ES class; Chromium's ANGLE path).
    gpu = await createGpu(new URLSearchParams(location.search).has('compat') ? { featureLevel: 'compatibility' } : {});
    caps = compileCapsFor(gpu.report);
    api.adapter = gpu.report.name;
    gpu.device.lost.then((info) => info.reason !== 'destroyed' && showMessage(`The GPU device was lost: ${info.message}`, 'error'));
  } catch (e) {
    showMessage(`${isDittoError(e) ? e.message : String(e)}\n\nThe editor, checker, heatmap and predicted speed-up work without a GPU; Generate needs one.`);
  }
}

async function start(): Promise<void> {
  setupControls();
  if ('serviceWorker' in navigator && location.protocol !== 'file:') navigator.serviceWorker.register('sw.js').catch(() => undefined);
  // With ?autorun Generate follows at once: the weights download while the adapter opens.
  if (new URLSearchParams(location.search).has('autorun')) loadWeights(() => undefined).catch(() => undefined);
  await gpuOpened;
  phaseDone('adapter');
  // The no-cache plan depends only on the settings and the adapter: its pipelines (most of the
  // schedule's too) build while the text is analysed.
  try {
    if (gpu) preparePlan(baselinePlan(settings(), caps));
  } catch {
    // A model that does not compile is reported by the analysis and by Generate.
  }
  check(editor.state.doc.toString());
  phaseDone('analysis');
  api.ready = true;
  if (new URLSearchParams(location.search).has('autorun')) await onGenerate();
}

void start();
