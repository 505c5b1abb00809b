/**
 * Shared pieces of the dynamic-rule suites: the tiny DiT from the shipped model file and the
 * first-block schedule resolved with chosen parameters.
 */
import { fileURLToPath } from 'node:url';
import { loadProgram, lowerModel, resolveSchedule } from '../../compiler/frontend.ts';
import type { Graph } from '../../compiler/ir/graph.ts';
import type { ScheduleIR } from '../../compiler/ir/schedule.ts';

const root = (p: string) => fileURLToPath(new URL(`../../${p}`, import.meta.url));
const dit = loadProgram(root('models/dit.ditto'));
const firstBlockProgram = loadProgram(root('models/schedules/first-block.ditto'));

/** DiT-Tiny (depth 2, hidden 64, 16 tokens) lowered for `modelBatch` samples. */
export function tinyDit(modelBatch: number): Graph {
  return lowerModel(dit, { model: 'DiT-Tiny', batch: modelBatch });
}

export interface FirstBlockParams {
  threshold: number;
  warm: number;
  most: number;
}

/** models/schedules/first-block.ditto for `steps` steps: blocks[1..] reuse their residual while the
 *  accumulated rel-L1 of blocks[0]'s output stays under `threshold`. */
export function firstBlock(graph: Graph, steps: number, p: FirstBlockParams): ScheduleIR {
  return resolveSchedule(firstBlockProgram, 'first_block', graph, { steps, set: { threshold: p.threshold, warm: p.warm, most: p.most } });
}
