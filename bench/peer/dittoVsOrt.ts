/**
 * The peer row of `ditto bench`: ditto's no-cache forward (a forward plan, compiler/forward.ts)
 * against onnxruntime-node on WebGPU and on the CPU — same model, same weights, same batch, same
 * input, one process, interleaved after warm-up. Every engine's output is first checked against
 * torch's output on that input, so no engine is timed doing something else.
 *
 * The weights are the ones the ONNX model was exported with (`--weights`, or the export's seeded
 * random weights in bench/work/), loaded by ditto under their official DiT names.
 */
import { isAbsolute, relative } from 'node:path';
import { DittoError } from '../../core/errors.ts';
import { intTensor, tensor, type Tensor } from '../../core/tensor.ts';
import { openModel } from '../../compiler/compileSource.ts';
import type { Graph } from '../../compiler/ir/graph.ts';
import { compileForward } from '../../compiler/forward.ts';
import { compileCapsFor } from '../../compiler/plan/caps.ts';
import type { GpuContext } from '../../runtime/device.ts';
import { createForwardRunner } from '../../runtime/run/forwardRunner.ts';
import { loadWeights } from '../../runtime/weights/index.ts';
import { interleave, type Candidate, type Summary } from '../stats.ts';
import { openSession, ortInfo, type OrtEp, type OrtSession } from './onnxruntime.ts';
import { agreement, ensureDitOnnx, ortCandidate, ortForward, readReference, REPO_ROOT, type Agreement, type DitExportConfig, type DitReference } from './ort.ts';

/** A path inside the repository as a relative one (committed reports must not name this machine's folders); others unchanged. */
export function repoRelative(file: string): string {
  const rel = relative(REPO_ROOT, file);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}

export interface PeerConfig {
  modelFile: string;
  model?: string;
  set?: Record<string, number>;
  /** Forward batch (2 × images under CFG: one cond/uncond pair per image). */
  batch: number;
  /** Official-name DiT weights; absent: the export's seeded random weights. */
  weightsFile?: string;
  eps: OrtEp[];
  runs: number;
  warmup: number;
  gpu: GpuContext;
  onProgress?: (line: string) => void;
}

export interface PeerRow {
  engine: string;
  forward: Summary;
  samples: number[];
  /** Session/plan creation and the first (checked) forward, milliseconds. */
  setupMs: number;
  firstForwardMs: number;
  agreement: Agreement;
}

export interface PeerResult {
  config: DitExportConfig;
  weights: string;
  ortVersion: string;
  rows: PeerRow[];
}

/** The export script's config for a lowered DiT graph (the script builds only the DiT family). */
export function exportConfigOf(graph: Graph, modelName: string, batch: number, set?: Record<string, number>): DitExportConfig {
  const p = graph.params;
  const need = ['depth', 'hidden', 'heads', 'patch', 'latent', 'channels', 'classes'];
  const missing = need.filter((k) => p[k] === undefined);
  if (missing.length) {
    throw new DittoError('E_USAGE', `--peer ort exports a DiT to ONNX, but model ${modelName} has no ${missing.join(', ')} parameter${missing.length > 1 ? 's' : ''}; use --peer none`);
  }
  const slug = modelName.toLowerCase().replace(/[^a-z0-9]+/g, '');
  const setTag = set && Object.keys(set).length ? '-' + Object.entries(set).map(([k, v]) => `${k}${v}`).join('-') : '';
  return {
    name: `${slug.replace(/^dit/, 'dit-')}${setTag}`,
    depth: p['depth']!, hidden: p['hidden']!, heads: p['heads']!, patch: p['patch']!, latent: p['latent']!,
    channels: p['channels']!, classes: p['classes']!, learnSigma: (p['learn_sigma'] ?? 1) !== 0, batch,
  };
}

function dittoInputs(ref: DitReference): Record<string, Tensor> {
  return {
    x: tensor(ref.xShape, ref.x),
    t: tensor([ref.t.length], ref.t),
    y: intTensor([ref.y.length], Int32Array.from(ref.y, (v) => Number(v))),
  };
}

export async function benchPeer(cfg: PeerConfig): Promise<PeerResult> {
  const log = cfg.onProgress ?? (() => undefined);
  const { graph } = openModel(cfg.modelFile, { model: cfg.model, set: cfg.set, batch: cfg.batch, cfg: false });
  const exportCfg = exportConfigOf(graph, cfg.model ?? graph.model, cfg.batch, cfg.set);
  const paths = ensureDitOnnx(exportCfg, cfg.weightsFile);
  const ref = readReference(paths.io);
  const weights = loadWeights(paths.weights).tensors;

  const rows: Omit<PeerRow, 'forward' | 'samples'>[] = [];
  const candidates: Candidate[] = [];
  const sessions: OrtSession[] = [];
  const check = (engine: string, out: Float32Array) => {
    const agr = agreement(out, ref.out);
    log(`${engine}: relative L2 against torch ${agr.relL2.toExponential(2)}`);
    if (!agr.ok) throw new DittoError('E_NUMERIC', `${engine} disagrees with torch on the same input (relative L2 ${agr.relL2.toExponential(2)}): the comparison would not be fair`);
    return agr;
  };

  const t0 = performance.now();
  const { plan } = compileForward(graph, { caps: compileCapsFor(cfg.gpu.report) });
  const runner = await createForwardRunner(plan, weights, { gpu: cfg.gpu, weightsFile: paths.weights });
  try {
    const inputs = dittoInputs(ref);
    const t1 = performance.now();
    const first = await runner.forward(inputs);
    const t2 = performance.now();
    const out = first['out'] ?? Object.values(first)[0]!;
    rows.push({ engine: 'ditto (WebGPU, no cache)', setupMs: t1 - t0, firstForwardMs: t2 - t1, agreement: check('ditto', out.data as Float32Array) });
    candidates.push({ name: 'ditto', run: () => runner.forward(inputs) });

    for (const ep of cfg.eps) {
      const s0 = performance.now();
      const session = await openSession(paths.onnx, ep);
      sessions.push(session);
      const s1 = performance.now();
      const o = await ortForward(session, ref);
      const s2 = performance.now();
      rows.push({ engine: `onnxruntime-node ${ep === 'webgpu' ? 'WebGPU' : 'CPU'}`, setupMs: s1 - s0, firstForwardMs: s2 - s1, agreement: check(`ORT ${ep}`, o) });
      candidates.push(ortCandidate(`ort-${ep}`, session, ref));
    }
    // The checked first forwards were each engine's first warm-up round.
    const timed = await interleave(candidates, {
      warmup: Math.max(0, cfg.warmup - 1),
      runs: cfg.runs,
      onSample: (name, round, ms) => log(`peer ${name} run ${round + 1}/${cfg.runs}: ${ms.toFixed(0)} ms`),
    });
    return {
      config: exportCfg,
      weights: repoRelative(paths.weights),
      ortVersion: ortInfo().version,
      rows: rows.map((r, i) => ({ ...r, forward: timed[i]!.summary, samples: timed[i]!.samples })),
    };
  } finally {
    for (const s of sessions) await s.release();
    runner.destroy();
  }
}
