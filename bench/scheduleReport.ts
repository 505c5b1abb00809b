/**
 * Turns a schedule benchmark (and the optional ORT peer) into the report `ditto bench` writes:
 * report.md / report.json (bench/report.ts) and speed-fidelity.svg (bench/plot.ts), with the
 * targets of the benchmark issue side by side with what was measured.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DittoError } from '../core/errors.ts';
import { scatterSvg } from './plot.ts';
import { writeReport, type Cell, type Report, type Section } from './report.ts';
import type { ScheduleBenchResult, ScheduleRow } from './schedules.ts';
import type { PeerResult } from './peer/dittoVsOrt.ts';

export const PLOT_FILE = 'speed-fidelity.svg';

export interface BenchMeta {
  adapter: string;
  command: string;
  steps: number;
  images: number;
  runs: number;
  cfgScale: number | null;
  sampler: string;
  seed: number;
  weights: string;
  /** os.loadavg() before and after, and the CPU count: the machine may be shared. */
  loadBefore: number[];
  loadAfter: number[];
  cpus: string;
  wallSeconds: number;
}

/** A wall-clock target from the issue, checked against a row when that row was measured. */
interface Target {
  what: string;
  goal: string;
  measured: (rows: ScheduleRow[], peer?: PeerResult) => { value: Cell; met: boolean | null };
}

const bySchedule = (rows: ScheduleRow[], schedule: string) => rows.find((r) => r.schedule === schedule);

function speedTarget(schedule: string, label: string, goal: number, steps: number): Target {
  return {
    what: `${label}: wall-clock speed-up${steps === 50 ? '' : ' (target is for 50 steps)'}`,
    goal: `≥ ${goal}×`,
    measured: (rows) => {
      const r = bySchedule(rows, schedule);
      return r ? { value: `${r.speedup.toFixed(2)}× (predicted ${r.predictedSpeedup.toFixed(2)}×, roofline ${r.rooflineSpeedup.toFixed(2)}×)`, met: steps === 50 ? r.speedup >= goal : null } : { value: 'not run', met: null };
    },
  };
}

function targets(steps: number): Target[] {
  return [
    speedTarget('ebcache_table', 'EB-Cache released table, DiT-S/2, 50 steps', 1.45, steps),
    speedTarget('fora', 'FORA N = 3', 2.5, steps),
    {
      what: 'every schedule: measured / predicted speed-up (calibrated kernel times)',
      goal: '≥ 0.95',
      measured: (rows) => {
        const cached = rows.slice(1);
        if (!cached.length) return { value: 'no schedules', met: null };
        const worst = cached.reduce((a, b) => (b.realised < a.realised ? b : a));
        const worstRoof = cached.reduce((a, b) => (b.realisedRoofline < a.realisedRoofline ? b : a));
        return { value: `worst ${worst.realised.toFixed(3)} (${worst.name}); against the roofline: worst ${worstRoof.realisedRoofline.toFixed(3)} (${worstRoof.name})`, met: worst.realised >= 0.95 };
      },
    },
    {
      what: 'host overhead: encode + submit time per step, share of the step',
      goal: 'reported',
      measured: (rows) => {
        const b = rows[0]!;
        return { value: `${(b.hostPerStepSeconds * 1000).toFixed(2)} ms/step, ${(100 * b.hostShare).toFixed(2)} % (no-cache plan)`, met: null };
      },
    },
    {
      what: 'ditto no-cache forward vs ORT-WebGPU on the same adapter',
      goal: '≥ 3× faster',
      measured: (_rows, peer) => {
        const d = peer?.rows.find((r) => r.engine.startsWith('ditto'));
        const o = peer?.rows.find((r) => r.engine.endsWith('WebGPU'));
        if (!d || !o) return { value: 'peer not run', met: null };
        const x = o.forward.median / d.forward.median;
        return { value: `${x.toFixed(2)}×`, met: x >= 3 };
      },
    },
  ];
}

/** Where the predictions' kernel times come from, for the report's text. */
function kernelTimesNote(result: ScheduleBenchResult): string {
  const t = result.kernelTimes;
  const what = `(${Object.keys(t.bySignature).length} kernel×grid signatures from ${t.samples} timed dispatches; a dispatch whose signature was not timed is priced by its family's line, ms = a·roofline + b; host ${t.overheadMsPerDispatch.toFixed(3)} ms per dispatch)`;
  if (t.source === 'roofline') return 'of the compile profile\'s roofline (no adapter measurement was given)';
  return result.kernelTimesOrigin === 'given'
    ? `measured on ${t.adapter} by an earlier run (--kernel-times) ${what}`
    : `measured in this run on ${t.adapter}, before the timed rounds, on the search's probe plans at this model and batch (4 steps: no cache, reuse, Taylor forecast, residual skipping, every block skipped, a mix; docs/search.md) — not on the plans timed here ${what}`;
}

const mib = (bytes: number) => bytes / 2 ** 20;
const ms = (s: number) => s * 1000;

/** The report value (also what report.json holds) for one bench. */
export function scheduleReport(result: ScheduleBenchResult, meta: BenchMeta, peer?: PeerResult): Report {
  const rows = result.rows;
  const load = (l: number[]) => l.map((v) => v.toFixed(2)).join(' / ');
  const fidelityNote = result.pixelSpace
    ? 'PSNR and SSIM on the output images (range [-1, 1])'
    : `the model samples ${result.outputShape[0]}-channel latents, so fidelity is measured on the final latents: PSNR with the baseline latents' own value range as the peak, relative L2 (scale-free); SSIM needs images and is not given`;
  const base = rows[0]!;
  const drift = base.perImage.max / base.perImage.min;
  const driftNote = meta.runs > 1
    ? ` The baseline's slowest run took ${drift.toFixed(2)}× its fastest${drift > 1.15 ? ' — the machine\'s load changed during the bench, so read the speed-ups with that spread in mind ("per-round speed-ups" in report.json pairs each round\'s baseline with the schedule)' : ''}.`
    : '';
  const sections: Section[] = [
    {
      title: 'Schedules against the all-compute baseline',
      text: [
        `Every plan was compiled for this adapter (${result.caps} kernel profile), warmed up (each distinct step body run once so the adapter's shader JIT is not timed), then run ${meta.runs}× interleaved, in alternating order (baseline, schedule 1, …, schedule n; then schedule n, …, baseline; …), from seed ${meta.seed}.${driftNote} `,
        `"s/image" is the wall-clock time of one sampling run (noise upload, ${meta.steps} steps, latent readback) divided by the ${meta.images} image${meta.images === 1 ? '' : 's'} it makes. `,
        '"speed-up" = baseline median / row median ("per round": baseline / row within each round). ',
        `"predicted" is the calibrated cost model: every dispatch of the plan priced by kernel times ${kernelTimesNote(result)}, plus a host time per dispatch; the all-compute plan's predicted time / the row's; "realised" = speed-up / predicted. `,
        '"roofline" is the plan\'s own compile-time prediction (FLOPs and bytes on the compile profile, plan.cost.predictedSpeedup), and "realised (roofline)" = speed-up / roofline. ',
        `Fidelity is against the baseline's output from the same seed: ${fidelityNote}. `,
        '"host ms/step" is the time the host spends encoding and submitting one step\'s command buffer (median over runs); "host %" its share of the step\'s wall time.',
      ].join(''),
      table: {
        columns: ['schedule', 's/image median', 'min', 'max', 'speed-up', 'per round', 'predicted', 'realised', 'roofline', 'realised (roofline)', 'FLOPs ratio', 'PSNR dB', 'rel. L2', 'SSIM', 'peak MiB', 'host ms/step', 'host %', 'dispatches/run'],
        rows: rows.map((r) => [
          r.name, r.perImage.median, r.perImage.min, r.perImage.max, r.speedup, r.roundSpeedups.map((x) => x.toFixed(2)).join(', '), r.predictedSpeedup, r.realised, r.rooflineSpeedup, r.realisedRoofline, r.flopsRatio,
          r.fidelity.psnr, r.fidelity.relativeL2, r.fidelity.ssim, mib(r.peakMemoryBytes), ms(r.hostPerStepSeconds), 100 * r.hostShare, r.dispatches,
        ]),
      },
    },
    { title: 'Speed against fidelity', image: { file: PLOT_FILE, alt: 'speed-up against PSNR, one point per schedule' } },
  ];
  if (peer) {
    const d = peer.rows[0]!;
    sections.push({
      title: `Peer: one no-cache forward, batch ${peer.config.batch}`,
      text: [
        `The same DiT (${peer.config.name}: depth ${peer.config.depth}, hidden ${peer.config.hidden}, heads ${peer.config.heads}, patch ${peer.config.patch}, latent ${peer.config.latent}), the same weights (${peer.weights}), the same input, in this process: `,
        `ditto's forward plan on WebGPU, and onnxruntime-node ${peer.ortVersion} (torch.onnx.export, opset 14) on its WebGPU provider (Dawn, default adapter — the same one) and on the CPU. `,
        `Each engine's first forward is checked against torch's output (relative L2 ≤ 1e-3) before anything is timed; then ${d.forward.n} interleaved runs. "time ÷ ditto's" = engine median / ditto median (above 1: ditto is faster).`,
      ].join(''),
      table: {
        columns: ['engine', 'median ms', 'min ms', 'max ms', 'runs', 'time ÷ ditto\'s', 'setup ms', 'first forward ms', 'rel. L2 vs torch'],
        rows: peer.rows.map((r) => [r.engine, r.forward.median, r.forward.min, r.forward.max, r.forward.n, r.forward.median / d.forward.median, r.setupMs, r.firstForwardMs, r.agreement.relL2]),
      },
    });
  }
  sections.push({
    title: 'Targets (issue 8) and measurements',
    text: 'Targets are reported, not asserted. "met" is blank where the measurement does not answer the target (different step count, target not run). Matmul against the adapter\'s peak is in the kernel report (bench/results/kernels-*.md).',
    table: {
      columns: ['target', 'goal', 'measured', 'met'],
      rows: targets(meta.steps).map((t) => {
        const m = t.measured(rows, peer);
        return [t.what, t.goal, m.value, m.met === null ? null : m.met ? 'yes' : 'no'];
      }),
    },
  });
  return {
    title: `ditto bench: ${result.model}, ${meta.steps} steps, on ${meta.adapter}`,
    meta: {
      adapter: meta.adapter,
      model: `${result.model} (output ${result.outputShape.join('×')})`,
      weights: meta.weights,
      sampling: `${meta.sampler}, ${meta.steps} steps, ${meta.cfgScale === null ? 'no CFG' : `CFG ${meta.cfgScale}`}, ${meta.images} image${meta.images === 1 ? '' : 's'} per run, seed ${meta.seed}`,
      runs: `${meta.runs} timed per plan, interleaved, after warm-up`,
      CPU: meta.cpus,
      'load average (1/5/15 min) before': load(meta.loadBefore),
      'load average after': load(meta.loadAfter),
      date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
      command: meta.command,
      'wall time (s)': Number(meta.wallSeconds.toFixed(0)),
    },
    sections,
    data: { rows, peer: peer ?? null, meta, kernelTimes: result.kernelTimes, kernelTimesOrigin: result.kernelTimesOrigin },
  };
}

export function speedFidelityPlot(result: ScheduleBenchResult, meta: BenchMeta): string {
  return scatterSvg(result.rows.map((r) => ({ name: r.name, x: r.speedup, y: r.fidelity.psnr })), {
    title: `${result.model}, ${meta.steps} steps: speed against fidelity (${meta.adapter.split(':')[0]})`,
    xLabel: 'wall-clock speed-up over no cache',
    yLabel: `PSNR vs no cache (dB${result.pixelSpace ? '' : ', latents, peak = their range'})`,
  });
}

/** Writes report.md, report.json and the plot into `dir`; returns the three paths. */
export function writeScheduleReport(dir: string, result: ScheduleBenchResult, meta: BenchMeta, peer?: PeerResult): { md: string; json: string; svg: string } {
  const files = writeReport(dir, scheduleReport(result, meta, peer));
  const svg = join(dir, PLOT_FILE);
  try {
    writeFileSync(svg, speedFidelityPlot(result, meta));
  } catch (e) {
    throw new DittoError('E_IO', `cannot write the plot ${svg}: ${(e as Error).message}`);
  }
  return { ...files, svg };
}
