/**
 * `--model NAME` and `--set key=value,…`, shared by every verb that takes a model file, and the
 * one function that turns them into a Graph.
 */
import { Option, type Command } from 'commander';
import { parseSetFlag } from '../compiler/frontend.ts';
import { openModel } from '../compiler/compileSource.ts';
import type { Graph } from '../compiler/ir/graph.ts';

export interface ModelFlags {
  model?: string;
  set?: string;
}

export function addModelOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--model <name>', 'the model or variant to use (e.g. DiT-S/2); default: the file\'s only model'))
    .addOption(new Option('--set <key=value,…>', 'override model parameters, e.g. latent=8,hidden=64,depth=2'));
}

export function lowerModelFile(file: string, flags: ModelFlags, batch: number): Graph {
  return openModel(file, { model: flags.model, set: flags.set ? parseSetFlag(flags.set) : undefined, batch, cfg: false }).graph;
}

/** `--sampler ddpm|ddim`, the same choices and default on every verb that samples. */
export function samplerOption(): Option {
  return new Option('--sampler <kind>', 'sampler').choices(['ddpm', 'ddim']).default('ddpm');
}
