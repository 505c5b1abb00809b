/**
 * Compile time of DiT-XL/2 (CFG, batch 1) at 50 and 250 steps, and the predicted FLOPs ratio and
 * speed-up of every shipped schedule. Not a test (timings are never asserted): run it with
 *   npx tsx tools/compile_time.ts [--steps 50,250]
 * Each compile is run twice; the second (warm JIT) time is the one reported, the first in brackets.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { loadSource, openModel, planFor, scheduleFor, type SourceModel } from '../compiler/compileSource.ts';
import type { ScheduleIR } from '../compiler/ir/schedule.ts';
import { DEFAULT_SAMPLER, type SamplerKind } from '../compiler/passes/options.ts';
import { declaredSampler } from '../compiler/schedule/sampler.ts';
import { isDittoError } from '../core/errors.ts';
import { schedulesDeclaredIn } from '../compiler/frontend.ts';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const stepsArg = process.argv.indexOf('--steps');
const stepList = stepsArg > 0 ? process.argv[stepsArg + 1]!.split(',').map(Number) : [50, 250];

const dir = path.join(root, 'models/schedules');
const files = readdirSync(dir).filter((f) => f.endsWith('.ditto')).sort();

function time(model: SourceModel, schedule: ScheduleIR | undefined, steps: number, sampler: SamplerKind) {
  const t0 = performance.now();
  planFor(model, schedule, { steps, sampler, cfgScale: 1.5 });
  const cold = performance.now() - t0;
  const t1 = performance.now();
  const r = planFor(model, schedule, { steps, sampler, cfgScale: 1.5 });
  return { warm: performance.now() - t1, cold, plan: r.plan };
}

console.log('schedule'.padEnd(44) + 'steps  compile ms (cold)   kernels bodies  FLOPs ratio  pred. speed-up  peak MiB');
for (const file of files) {
  const prog = loadSource(path.join(dir, file));
  for (const { name } of schedulesDeclaredIn(prog, path.join(dir, file))) {
    // A schedule made for one sampler is compiled for it (docs/language.md "The sampler a schedule was made for").
    const sampler = declaredSampler(prog.schedules.get(name)!.decl) ?? DEFAULT_SAMPLER;
    for (const steps of stepList) {
      const label = `${file}:${name}`.padEnd(44) + String(steps).padEnd(7);
      try {
        const model = openModel(prog, { model: 'DiT', batch: 1, cfg: true });
        const r = time(model, scheduleFor(model, name, steps, { sampler }), steps, sampler);
        const p = r.plan;
        console.log(label + `${r.warm.toFixed(0).padStart(6)} (${r.cold.toFixed(0).padStart(5)})      ${String(p.kernels.length).padStart(4)} ${String(p.bodies.length).padStart(6)}  ${p.cost.flopsRatio.toFixed(3).padStart(11)}  ${p.cost.predictedSpeedup.toFixed(2).padStart(13)}x  ${(p.cost.peakMemoryBytes / 2 ** 20).toFixed(0).padStart(8)}`);
      } catch (e) {
        console.log(label + `not compiled: ${isDittoError(e) ? `[${e.code}] ${e.message.split('\n')[0]}` : String(e)}`);
      }
    }
  }
}
