/**
 * The peer: the same DiT run by onnxruntime-node, on its WebGPU provider (Dawn, the engine a Node
 * user would otherwise pick to run a DiT on WebGPU) and on the CPU. Per-forward wall time after a
 * warm-up, candidates interleaved in one process; and, so the comparison is fair, every provider's
 * output checked against torch's output on the same input.
 *
 * The ONNX model is made by tools/onnx/export_dit.py (Debian's torch) into bench/work/ when missing.
 *
 *   npx tsx bench/peer/ort.ts [--weights W.safetensors] [--eps webgpu,cpu] [--runs 3] [--warmup 1] [--out bench/results]
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../core/packageRoot.ts';
import { DittoError } from '../../core/errors.ts';
import { loadWeights } from '../../runtime/weights/index.ts';
import { interleave, type Candidate, type Summary } from '../stats.ts';
import { loadOrt, openSession, type OrtEp, type OrtSession } from './onnxruntime.ts';

export const REPO_ROOT = PACKAGE_ROOT;
export const WORK_DIR = join(REPO_ROOT, 'bench', 'work');
export const PYTHON = process.env.DITTO_PYTHON ?? '/usr/bin/python3';

/** The DiT config the export script takes (DiT-S/2 defaults) plus the fixed batch of the graph. */
export interface DitExportConfig {
  name: string;
  depth: number;
  hidden: number;
  heads: number;
  patch: number;
  latent: number;
  channels: number;
  classes: number;
  learnSigma: boolean;
  batch: number;
}

export const DIT_S2_BATCH2: DitExportConfig = {
  name: 'dit-s2', depth: 12, hidden: 384, heads: 6, patch: 2, latent: 32, channels: 4, classes: 1000, learnSigma: true, batch: 2,
};

export interface DitOnnx {
  onnx: string;
  /** torch's reference input and output (safetensors: x, t, y, out). */
  io: string;
  /** The weights the model was exported with (what ditto must load for a like-for-like run). */
  weights: string;
}

/** Where the exported model lives: with given weights, named after them; otherwise random, seeded. */
export function ditOnnxPaths(cfg: DitExportConfig, weights?: string, workDir = WORK_DIR): DitOnnx {
  const tag = weights ? weights.replace(/^.*\//, '').replace(/\.[^.]*$/, '') : `${cfg.name}-random`;
  const onnx = join(workDir, `${tag}-b${cfg.batch}.onnx`);
  return { onnx, io: `${onnx}.io.safetensors`, weights: weights ?? join(workDir, `${cfg.name}-random.safetensors`) };
}

/** The export script's command line for a config. */
export function exportArgs(cfg: DitExportConfig, paths: DitOnnx, weightsGiven: boolean): string[] {
  return [
    join(REPO_ROOT, 'tools', 'onnx', 'export_dit.py'),
    '--out', paths.onnx,
    ...(weightsGiven ? ['--weights', paths.weights] : ['--random-weights', paths.weights]),
    '--depth', String(cfg.depth), '--hidden', String(cfg.hidden), '--heads', String(cfg.heads),
    '--patch', String(cfg.patch), '--latent', String(cfg.latent), '--channels', String(cfg.channels),
    '--classes', String(cfg.classes), cfg.learnSigma ? '--learn-sigma' : '--no-learn-sigma', '--batch', String(cfg.batch),
  ];
}

/** Exports the DiT to ONNX with torch unless the model and its reference I/O already exist. */
export function ensureDitOnnx(cfg: DitExportConfig, weights?: string, workDir = WORK_DIR): DitOnnx {
  if (weights && !existsSync(weights)) throw new DittoError('E_IO', `weights file not found: ${weights}`);
  const paths = ditOnnxPaths(cfg, weights, workDir);
  if (existsSync(paths.onnx) && existsSync(paths.io) && existsSync(paths.weights)) return paths;
  process.stderr.write(`exporting ${cfg.name} to ONNX with torch (${PYTHON})…\n`);
  const r = spawnSync(PYTHON, exportArgs(cfg, paths, Boolean(weights)), {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: { ...process.env, OPENBLAS_NUM_THREADS: process.env.OPENBLAS_NUM_THREADS ?? '1' },
    maxBuffer: 64 << 20,
  });
  if (r.error) throw new DittoError('E_IO', `cannot run ${PYTHON} (Debian's python3-torch is needed to export the ONNX model): ${r.error.message}`);
  if (r.status !== 0) {
    const tail = `${r.stderr}`.trim().split('\n').slice(-6).join('\n');
    throw new DittoError('E_IO', `tools/onnx/export_dit.py failed (exit ${r.status}):\n${tail}`);
  }
  return paths;
}

export interface DitReference {
  x: Float32Array;
  t: Float32Array;
  y: BigInt64Array;
  out: Float32Array;
  xShape: number[];
  outShape: number[];
}

export function readReference(ioPath: string): DitReference {
  const w = loadWeights(ioPath).tensors;
  const get = (k: string) => {
    const v = w.get(k);
    if (!v) throw new DittoError('E_IO', `${ioPath} has no tensor '${k}' (re-export with tools/onnx/export_dit.py)`);
    return v;
  };
  const y = get('y');
  return {
    x: get('x').data as Float32Array,
    t: get('t').data as Float32Array,
    y: BigInt64Array.from(Array.from(y.data as Int32Array, (v) => BigInt(v))),
    out: get('out').data as Float32Array,
    xShape: [...get('x').shape],
    outShape: [...get('out').shape],
  };
}

/** One forward of the DiT on an ORT session; returns the output `out`. */
export async function ortForward(session: OrtSession, ref: DitReference): Promise<Float32Array> {
  const ort = loadOrt();
  const feeds = {
    x: new ort.Tensor('float32', ref.x, ref.xShape),
    t: new ort.Tensor('float32', ref.t, [ref.t.length]),
    y: new ort.Tensor('int64', ref.y, [ref.y.length]),
  };
  const r = await session.run(feeds);
  return r.out!.data as Float32Array;
}

export interface Agreement {
  maxAbs: number;
  /** ‖a − b‖₂ / ‖b‖₂ */
  relL2: number;
  ok: boolean;
}

/** Compares an output against the reference: ok when relL2 ≤ tol (f32 DiT-S/2 agrees to ~1e-6). */
export function agreement(got: Float32Array, want: Float32Array, tol = 1e-3): Agreement {
  if (got.length !== want.length) throw new DittoError('E_NUMERIC', `output has ${got.length} values, the torch reference ${want.length}`);
  let maxAbs = 0;
  let num = 0;
  let den = 0;
  for (let i = 0; i < got.length; i++) {
    const d = got[i]! - want[i]!;
    maxAbs = Math.max(maxAbs, Math.abs(d));
    num += d * d;
    den += want[i]! * want[i]!;
  }
  const relL2 = Math.sqrt(num / (den || 1));
  return { maxAbs, relL2, ok: relL2 <= tol && Number.isFinite(relL2) };
}

/** A benchmark candidate that runs one ORT forward (for interleaving with ditto's plans). */
export function ortCandidate(name: string, session: OrtSession, ref: DitReference): Candidate {
  return { name, run: () => ortForward(session, ref) };
}

export interface OrtDitResult {
  ep: OrtEp;
  sessionMs: number;
  firstForwardMs: number;
  forward: Summary;
  samples: number[];
  agreement: Agreement;
}

export interface OrtBenchOptions {
  eps: OrtEp[];
  runs: number;
  warmup: number;
  threads?: number;
  onProgress?: (line: string) => void;
}

/** Opens every provider, checks its output against torch, then times forwards interleaved. */
export async function benchOrtDit(paths: DitOnnx, o: OrtBenchOptions): Promise<OrtDitResult[]> {
  const ref = readReference(paths.io);
  const opened: { ep: OrtEp; session: OrtSession; sessionMs: number; firstForwardMs: number; agreement: Agreement }[] = [];
  for (const ep of o.eps) {
    const t0 = performance.now();
    const session = await openSession(paths.onnx, ep, { threads: o.threads });
    const t1 = performance.now();
    const out = await ortForward(session, ref);
    const t2 = performance.now();
    const agr = agreement(out, ref.out);
    o.onProgress?.(`${ep}: session ${(t1 - t0).toFixed(0)} ms, first forward ${(t2 - t1).toFixed(0)} ms, relL2 vs torch ${agr.relL2.toExponential(2)}`);
    if (!agr.ok) throw new DittoError('E_NUMERIC', `onnxruntime '${ep}' disagrees with torch on the same input (relative L2 ${agr.relL2.toExponential(2)}): the comparison would not be fair`);
    opened.push({ ep, session, sessionMs: t1 - t0, firstForwardMs: t2 - t1, agreement: agr });
  }
  // The first forward above was the first warm-up round.
  const res = await interleave(opened.map((s) => ortCandidate(s.ep, s.session, ref)), {
    warmup: Math.max(0, o.warmup - 1),
    runs: o.runs,
    onSample: (name, round, ms) => o.onProgress?.(`${name} run ${round + 1}/${o.runs}: ${ms.toFixed(0)} ms`),
  });
  for (const s of opened) await s.session.release();
  return opened.map((s, i) => ({ ep: s.ep, sessionMs: s.sessionMs, firstForwardMs: s.firstForwardMs, forward: res[i]!.summary, samples: res[i]!.samples, agreement: s.agreement }));
}

