/** `ditto explain`: the plan as a per-step table (work, dispatches, FLOPs, bytes, predicted time). */
import type { CalibratedPrediction } from '../plan/kernelTimes.ts';
import type { Plan } from '../plan/types.ts';

const STATE_NAMES: Record<string, string> = { c: 'compute', r: 'reuse', f: 'forecast', p: 'partial', s: 'residual', b: 'cond + bands', d: 'dead', h: 'hoisted' };

function mb(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(1);
}

function count(code: string): string {
  const n: Record<string, number> = {};
  for (const ch of code) n[ch] = (n[ch] ?? 0) + 1;
  return Object.entries(n)
    .filter(([ch]) => ch !== 'h')
    .map(([ch, v]) => `${v} ${STATE_NAMES[ch] ?? ch}`)
    .join(', ');
}

/** `calibrated`: the plan priced by measured kernel times (`--kernel-times`), shown beside the roofline. */
export function explainText(p: Plan, calibrated?: { prediction: CalibratedPrediction; file: string }): string {
  const c = p.cost;
  const L: string[] = [];
  L.push(`plan ${p.hash.slice(0, 12)}  model ${p.model.name} (batch ${p.model.modelBatch})  schedule ${p.schedule.name}  ${p.options.steps} steps ${p.options.sampler}` +
    `${p.options.cfgScale !== null ? `  cfg ${p.options.cfgScale}` : ''}${p.options.f16 ? '  f16' : ''}  caps ${p.options.caps}`);
  L.push(`kernels ${p.kernels.length}  step bodies ${p.bodies.length}  prologue ${p.prologue.dispatches.length} dispatches`);
  L.push(`FLOPs ratio ${c.flopsRatio.toFixed(3)} of all-compute  predicted speed-up ${c.predictedSpeedup.toFixed(2)}x  peak memory ${mb(c.peakMemoryBytes)} MiB` +
    ` (${Object.entries(c.memory).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${mb(v)}`).join(', ')})`);
  L.push(`all-compute step: ${c.allCompute.dispatches} dispatches, ${(c.allCompute.flops / 1e9).toFixed(2)} GFLOPs, ${(c.allCompute.seconds * 1e3).toFixed(3)} ms predicted`);
  L.push(`rows of the heatmap: ${p.heatmap.rows.length} (${p.heatmap.rows.slice(0, 3).map((r) => r.label).join(', ')}${p.heatmap.rows.length > 3 ? ', …' : ''})`);
  L.push('');
  const cal = calibrated?.prediction;
  L.push(['step', 'body', 'dispatches', 'GFLOPs', 'MiB moved', 'pred ms', 'speed-up', ...(cal ? ['cal ms'] : []), 'cache r/w', 'work (heatmap rows)'].join('\t'));
  p.stepBody.forEach((b, k) => {
    const s = c.perStep[k]!;
    const body = p.bodies[b]!;
    const work = count(p.heatmap.cond[k]!) + (p.heatmap.uncond[k] ? ` | uncond: ${count(p.heatmap.uncond[k]!)}` : '');
    L.push([k, b, s.dispatches, (s.flops / 1e9).toFixed(3), mb(s.bytes), (s.seconds * 1e3).toFixed(3), (c.allCompute.seconds / s.seconds).toFixed(2) + 'x',
      ...(cal ? [cal.perStepMs[k]!.toFixed(3)] : []), `${body.cacheReads.length}/${body.cacheWrites.length}`, work].join('\t'));
  });
  const total = c.perStep.reduce((a, s) => a + s.seconds, 0) + c.prologue.seconds;
  L.push('');
  L.push(`predicted run: ${(total * 1e3).toFixed(1)} ms (all-compute ${((c.allCompute.seconds * p.options.steps + c.prologue.seconds) * 1e3).toFixed(1)} ms)`);
  if (calibrated && cal) {
    L.push('');
    L.push(`calibrated (kernel times ${cal.source === 'measured' ? `measured on ${cal.adapter}` : 'of the roofline'}, ${calibrated.file}): predicted run ${cal.msPerRun.toFixed(1)} ms, ` +
      `sampling steps ${cal.stepsMs.toFixed(1)} ms, ${(100 * cal.measuredShare).toFixed(0)} % of the step dispatches priced by a measured kernel time`);
    L.push(cal.speedup !== null
      ? `calibrated speed-up ${cal.speedup.toFixed(2)}x (all-compute step ${cal.allComputeStepMs!.toFixed(3)} ms; roofline ${c.predictedSpeedup.toFixed(2)}x)`
      : `calibrated speed-up: not known — ${calibrated.file} holds no all-compute step of this model at batch ${p.options.batch} with these options (a bench or search at this model and batch records one)`);
  }
  return L.join('\n') + '\n';
}
