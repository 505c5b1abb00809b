/**
 * The ORT peer on its own: DiT (default DiT-S/2, batch 2 = one CFG pair) exported by torch and run by
 * onnxruntime-node on WebGPU and on the CPU, outputs checked against torch, forwards interleaved.
 * Writes bench/results/ort-<model>-<adapter>.md and .json. `ditto bench` puts ditto's own no-cache
 * plan in the same interleaved loop (bench/peer/ort.ts `ortCandidate`).
 *
 *   npx tsx bench/ortDit.ts [--weights W.safetensors] [--eps webgpu,cpu] [--runs 3] [--warmup 1] [--out bench/results]
 */
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DittoError } from '../core/errors.ts';
import { createGpu } from '../runtime/device.ts';
import { adapterSlug } from './kernels.ts';
import { ortInfo, type OrtEp } from './peer/onnxruntime.ts';
import { benchOrtDit, DIT_S2_BATCH2, ensureDitOnnx, REPO_ROOT } from './peer/ort.ts';
import { writeReport } from './report.ts';
import { runIfMain } from './scriptMain.ts';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      weights: { type: 'string' },
      eps: { type: 'string', default: 'webgpu,cpu' },
      runs: { type: 'string', default: '3' },
      warmup: { type: 'string', default: '1' },
      out: { type: 'string', default: join(REPO_ROOT, 'bench', 'results') },
    },
  });
  const eps = values.eps.split(',').map((s) => s.trim()) as OrtEp[];
  for (const e of eps) if (e !== 'webgpu' && e !== 'cpu') throw new DittoError('E_USAGE', `unknown execution provider '${e}' in --eps; use webgpu and/or cpu`);
  const runs = Number(values.runs);
  const warmup = Number(values.warmup);
  if (!Number.isInteger(runs) || runs < 1) throw new DittoError('E_USAGE', `--runs must be a positive integer, got '${values.runs}'`);
  if (!Number.isInteger(warmup) || warmup < 1) throw new DittoError('E_USAGE', `--warmup must be at least 1 (the first forward is the correctness check), got '${values.warmup}'`);
  const log = (s: string) => process.stderr.write(`${s}\n`);

  // Ditto's Dawn names the adapter; ORT's WebGPU provider opens the same default adapter.
  const gpu = await createGpu();
  log(`adapter: ${gpu.report.name}`);
  const cfg = DIT_S2_BATCH2;
  const paths = ensureDitOnnx(cfg, values.weights);
  const started = performance.now();
  const results = await benchOrtDit(paths, { eps, runs, warmup, onProgress: log });
  const info = ortInfo();
  const report = {
    title: `onnxruntime-node running DiT-S/2 (batch ${cfg.batch}) on ${gpu.report.name}`,
    meta: {
      adapter: gpu.report.name,
      model: `DiT-S/2: depth ${cfg.depth}, hidden ${cfg.hidden}, heads ${cfg.heads}, patch ${cfg.patch}, latent ${cfg.latent}, learn_sigma ${cfg.learnSigma}`,
      weights: values.weights ?? 'random, seeded (tools/onnx/export_dit.py --random-weights)',
      'onnxruntime-node': `${info.version} (providers bundled: ${info.bundled.join(', ')})`,
      CPU: `${cpus()[0]?.model ?? 'unknown'} × ${availableParallelism()} available`,
      date: new Date().toISOString().slice(0, 10),
      command: `npx tsx bench/ortDit.ts --eps ${values.eps} --runs ${runs} --warmup ${warmup}`,
      'wall time (s)': Number(((performance.now() - started) / 1000).toFixed(1)),
    },
    sections: [{
      title: 'Per-forward wall time (interleaved, after warm-up)',
      text: 'The ONNX model is torch.onnx.export (opset 14) of tools/train/dit_torch.py. "rel. L2 vs torch": ‖ORT − torch‖₂/‖torch‖₂ on the same input; the bench refuses to time a provider above 1e-3.',
      table: {
        columns: ['provider', 'median ms', 'min ms', 'max ms', 'runs', 'session ms', 'first forward ms', 'rel. L2 vs torch', 'max |Δ|'],
        rows: results.map((r) => [r.ep, r.forward.median, r.forward.min, r.forward.max, r.forward.n, r.sessionMs, r.firstForwardMs, r.agreement.relL2, r.agreement.maxAbs]),
      },
    }],
    data: { config: cfg, results },
  };
  const files = writeReport(values.out, report, `ort-dit-s2-b${cfg.batch}-${adapterSlug(gpu)}`);
  log(`wrote ${files.md} and ${files.json}`);
  gpu.device.destroy();
}

runIfMain(import.meta.url, main);
