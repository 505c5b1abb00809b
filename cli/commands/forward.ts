/**
 * `ditto forward MODEL.ditto --weights W --inputs IN.safetensors -o OUT.safetensors`: one forward pass
 * of any model on named input tensors, writing every output tensor. The tool for comparing ditto with
 * a PyTorch model, and the one the golden tests drive. `--device gpu` compiles the model in forward
 * mode (compiler/forward.ts) for this machine's adapter and runs that plan once.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { DittoError } from '../../core/errors.ts';
import { intTensor, type Tensor } from '../../core/tensor.ts';
import type { Graph } from '../../compiler/ir/graph.ts';
import { graphWeights } from '../../compiler/ir/graph.ts';
import { loadWeights, validateWeights, writeSafetensors } from '../../runtime/weights/index.ts';
import { forward } from '../../runtime/reference/forward.ts';
import { compileForward } from '../../compiler/forward.ts';
import { compileCapsFor } from '../../compiler/plan/caps.ts';
import { createGpu } from '../../runtime/device.ts';
import { createForwardRunner } from '../../runtime/run/forwardRunner.ts';
import { addModelOptions, lowerModelFile } from '../modelArgs.ts';
import { checkOutputPath, dawnToggleOption, deviceOptionsOf, type DeviceFlags } from '../options.ts';
import { refuseOverwrite } from '../../core/outputGuard.ts';

interface ForwardFlags extends DeviceFlags {
  model?: string;
  set?: string;
  weights: string;
  inputs: string;
  output: string;
  device: 'reference' | 'gpu';
  allowNonFiniteWeights?: boolean;
}

/** The batch of the inputs: the leading dimension shared by every input tensor. */
function batchOf(inputs: Map<string, Tensor>, file: string): number {
  const sizes = new Set([...inputs.values()].map((t) => t.shape[0]));
  if (inputs.size === 0) throw new DittoError('E_INPUT', `the inputs file '${file}' holds no tensors`);
  if (sizes.size !== 1) {
    const list = [...inputs.entries()].map(([n, t]) => `${n} [${t.shape.join(', ')}]`).join(', ');
    throw new DittoError('E_INPUT', `the inputs in '${file}' disagree on the batch (leading) dimension: ${list}`);
  }
  return [...sizes][0]!;
}

/** Integer inputs (class ids) saved as floats by a Python script are accepted when they are whole numbers. */
function asInputDType(graph: Graph, name: string, t: Tensor, file: string): Tensor {
  const input = graph.inputs.find((i) => i.name === name);
  if (!input || graph.nodes[input.node]!.dtype !== 'i32' || t.dtype === 'i32') return t;
  const bad = t.data.findIndex((v) => !Number.isInteger(v));
  if (bad >= 0) throw new DittoError('E_INPUT', `input '${name}' in '${file}' must hold whole numbers (ids); element ${bad} is ${t.data[bad]}`);
  return intTensor(t.shape, Int32Array.from(t.data));
}

/** Compiles the graph in forward mode for this machine's adapter and runs it once. */
async function forwardOnGpu(graph: Graph, weights: ReadonlyMap<string, Tensor>, inputs: Record<string, Tensor>, flags: ForwardFlags): Promise<Record<string, Tensor>> {
  const gpu = await createGpu(deviceOptionsOf(flags));
  try {
    // The caps of the adapter we run on (detectCompileCaps('auto') would open a second device).
    const { plan } = compileForward(graph, { caps: compileCapsFor(gpu.report) });
    const runner = await createForwardRunner(plan, weights, { gpu, weightsFile: flags.weights });
    try {
      return await runner.forward(inputs);
    } finally {
      runner.destroy();
    }
  } finally {
    gpu.device.destroy();
  }
}

export function registerForward(program: Command): void {
  const cmd = program
    .command('forward')
    .description('run one forward pass of a model on named inputs and write every output tensor')
    .argument('<model-file>', 'the .ditto file declaring the model');
  addModelOptions(cmd)
    .requiredOption('--weights <file>', 'weights (.safetensors or PyTorch .pt)')
    .requiredOption('--inputs <file>', 'a .safetensors file with one tensor per model input (for DiT: x, t, y)')
    .requiredOption('-o, --output <file>', 'where to write the outputs (.safetensors)')
    .addOption(new Option('--device <device>', 'where to run').choices(['reference', 'gpu']).default('reference'))
    .option('--backend <name>', 'Dawn backend for --device gpu')
    .addOption(dawnToggleOption())
    .option('--allow-non-finite-weights', 'load weights that hold NaN or Inf (refused by default: the outputs would be NaN)')
    .action(async (file: string, flags: ForwardFlags) => {
      checkOutputPath('-o', flags.output);
      refuseOverwrite([{ label: '-o', file: flags.output }], [{ label: 'the model file', file }, { label: '--weights', file: flags.weights }, { label: '--inputs', file: flags.inputs }]);
      const inputs = loadWeights(flags.inputs, 'inputs').tensors;
      const graph = lowerModelFile(file, flags, batchOf(inputs, flags.inputs));
      const weights = loadWeights(flags.weights, 'weights', { allowNonFinite: flags.allowNonFiniteWeights === true });
      validateWeights(weights, graphWeights(graph));
      const named = Object.fromEntries([...inputs].map(([n, t]) => [n, asInputDType(graph, n, t, flags.inputs)]));
      const outputs = flags.device === 'gpu'
        ? await forwardOnGpu(graph, weights.tensors, named, flags)
        : forward(graph, weights.tensors, named);
      writeSafetensors(flags.output, new Map(Object.entries(outputs)));
      const summary = Object.entries(outputs).map(([n, t]) => `${n} [${t.shape.join(', ')}]`).join(', ');
      process.stdout.write(`wrote ${summary} to ${flags.output}\n`);
    });
}
