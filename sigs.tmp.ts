import { readFileSync } from 'node:fs';
import { openModel, planFor, scheduleFor } from './compiler/compileSource.ts';
import { LAVAPIPE_CAPS } from './compiler/plan/caps.ts';
import { dispatchSignature } from './compiler/plan/kernelTimes.ts';
const kt = JSON.parse(readFileSync('/tmp/k14/bench-smoke/report.json', 'utf8')).data.kernelTimes;
const m = openModel('models/dit.ditto', { model: 'DiT-S/2', batch: 1, cfg: true });
for (const name of [undefined, 'fora(N=3)', 'taylorseer']) {
  const ir = name ? scheduleFor(m, name, 8) : undefined;
  const plan = planFor(m, ir, { steps: 8, sampler: 'ddpm', caps: LAVAPIPE_CAPS, cfgScale: 1.5 }).plan;
  const miss = new Map<string, number>();
  for (const b of plan.stepBody) for (const d of plan.bodies[b]!.dispatches) { const s = dispatchSignature(plan, d); if (!(s in kt.bySignature)) miss.set(s, (miss.get(s) ?? 0) + 1); }
  console.log(name, [...miss].map(([s, n]) => `${n}× ${s.slice(0, 160)}`).join('\n  '));
}
