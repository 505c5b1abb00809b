/**
 * `ditto weights inspect | convert | random`: look into a weight file (safetensors or PyTorch
 * `.pt`), convert a `.pt` to safetensors, and write seeded random weights for a model.
 */
import path from 'node:path';
import type { Command } from 'commander';
import { refuseOverwrite } from '../../core/outputGuard.ts';
import { numel, shapeString, type Tensor } from '../../core/tensor.ts';
import { graphWeights, type Graph } from '../../compiler/ir/graph.ts';
import { loadWeights, openWeights, randomWeights, writeSafetensors } from '../../runtime/weights/index.ts';
import { parseIntFlag } from '../options.ts';
import { lowerModelFile } from '../modelArgs.ts';

/** Lowers `--model` of a model file (with `--set` overrides) to a Graph. */
export type LowerModelGraph = (file: string, opts: { model?: string; set?: string }) => Graph | Promise<Graph>;

export interface WeightsCommandDeps {
  lowerModelGraph?: LowerModelGraph;
}

/** The default lowering: the language front end, at batch 1 (weights do not depend on the batch). */
const frontEndLowering: LowerModelGraph = (file, opts) => lowerModelFile(file, opts, 1);

function fmtInt(n: number): string {
  return n.toLocaleString('en-US');
}

export function registerWeights(program: Command, deps: WeightsCommandDeps = {}): void {
  const weights = program.command('weights').description('inspect, convert and generate weight files (safetensors, PyTorch .pt)');

  weights
    .command('inspect')
    .description('list the tensors of a weight file: format, count, parameters, dtypes, names and shapes')
    .argument('<file>', 'a .safetensors or PyTorch .pt file')
    .option('--json', 'print a JSON object instead of text')
    .action((file: string, opts: { json?: boolean }) => {
      const wf = openWeights(file);
      try {
        const entries = wf.records.map((r) => ({ name: r.name, shape: [...r.shape], dtype: r.dtype }));
        const params = entries.reduce((s, e) => s + numel(e.shape), 0);
        const dtypes: Record<string, number> = {};
        for (const e of entries) dtypes[e.dtype] = (dtypes[e.dtype] ?? 0) + 1;
        if (opts.json) {
          const out = { path: file, format: wf.format, metadata: wf.metadata, tensors: entries.length, params, dtypes, entries };
          process.stdout.write(JSON.stringify(out, null, 2) + '\n');
          return;
        }
        const meta = Object.entries(wf.metadata);
        const nameW = Math.max(4, ...entries.map((e) => e.name.length));
        const shapeW = Math.max(5, ...entries.map((e) => shapeString(e.shape).length));
        const lines = [
          `file      ${file}`,
          `format    ${wf.format}`,
          ...(meta.length ? [`metadata  ${meta.map(([k, v]) => `${k}=${v}`).join(', ')}`] : []),
          `tensors   ${entries.length}`,
          `params    ${fmtInt(params)}`,
          `dtypes    ${Object.entries(dtypes).map(([d, n]) => `${d} ×${n}`).join(', ') || '-'}`,
          '',
          `${'name'.padEnd(nameW)}  ${'shape'.padEnd(shapeW)}  dtype`,
          ...entries.map((e) => `${e.name.padEnd(nameW)}  ${shapeString(e.shape).padEnd(shapeW)}  ${e.dtype}`),
        ];
        process.stdout.write(lines.join('\n') + '\n');
      } finally {
        wf.close();
      }
    });

  weights
    .command('convert')
    .description('convert a weight file (typically a PyTorch .pt state dict) to safetensors')
    .argument('<in>', 'input .pt or .safetensors file')
    .argument('<out>', 'output .safetensors file')
    .option('--f16', 'store floating-point tensors as f16 (default f32)')
    .option('--allow-non-finite-weights', 'load weights that hold NaN or Inf (refused by default: the outputs would be NaN)')
    .action((input: string, out: string, opts: { f16?: boolean; allowNonFiniteWeights?: boolean }) => {
      refuseOverwrite([{ label: '<out>', file: out }], [{ label: '<in>', file: input }]);
      const ws = loadWeights(input, 'weights', { allowNonFinite: opts.allowNonFiniteWeights === true });
      writeSafetensors(out, ws.tensors, { converted_from: path.basename(input), source_format: ws.format }, { floatType: opts.f16 ? 'f16' : 'f32' });
      const params = [...ws.tensors.values()].reduce((s, t) => s + t.data.length, 0);
      process.stdout.write(`wrote ${ws.tensors.size} tensors (${fmtInt(params)} parameters) to ${out}\n`);
    });

  weights
    .command('random')
    .description('write seeded random weights for a model (non-zero adaLN so every path is exercised)')
    .argument('<model-file>', 'the .ditto file declaring the model')
    .option('--model <name>', 'which model or variant of the file (e.g. DiT-XL/2)')
    .option('--set <key=value,…>', 'override model parameters, e.g. latent=8,hidden=64,depth=2')
    .requiredOption('--out <file>', 'output .safetensors file')
    .option('--seed <n>', 'generator seed', '0')
    .action(async (file: string, opts: { model?: string; set?: string; out: string; seed: string }) => {
      const seed = parseIntFlag('--seed', opts.seed, 0, 2 ** 32 - 1);
      refuseOverwrite([{ label: '--out', file: opts.out }], [{ label: 'the model file', file }]);
      const graph = await (deps.lowerModelGraph ?? frontEndLowering)(file, { model: opts.model, set: opts.set });
      const tensors = writeRandomWeights(graph, opts.out, seed);
      const params = [...tensors.values()].reduce((s, t) => s + t.data.length, 0);
      process.stdout.write(`wrote ${tensors.size} random tensors (${fmtInt(params)} parameters, seed ${seed}) for model ${graph.model} to ${opts.out}\n`);
    });
}

/** The body of `weights random`, given the lowered graph. */
export function writeRandomWeights(graph: Graph, out: string, seed: number): Map<string, Tensor> {
  const tensors = randomWeights(graphWeights(graph), seed);
  const params = Object.entries(graph.params).map(([k, v]) => `${k}=${v}`).join(',');
  writeSafetensors(out, tensors, { generator: 'ditto randomWeights (mulberry32 per tensor)', seed: String(seed), model: graph.model, params });
  return tensors;
}
