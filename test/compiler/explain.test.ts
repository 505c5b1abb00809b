/** explain: the per-step table and the heatmap SVG (legible for DiT-XL/2 at 250 steps). */
import { describe, expect, it } from 'vitest';
import { explainSvg } from '../../compiler/explain/svg.ts';
import { explainText } from '../../compiler/explain/text.ts';
import { HARDWARE_CAPS } from '../../compiler/plan/caps.ts';
import { compile } from '../../compiler/pipeline.ts';
import { calibratedPrediction, rooflineKernelTimes, withAllComputeStep } from '../../compiler/plan/kernelTimes.ts';
import { buildDiTGraph, DIT_XL_2, TINY_DIT } from '../helpers/ditGraph.ts';
import { both, fora, R, schedule } from './schedules.ts';

describe('explain', () => {
  it('prints one row per step with its body, dispatches and speed-up', () => {
    const { plan } = compile(buildDiTGraph(TINY_DIT, 2), fora(TINY_DIT.depth, 5, 2), { steps: 5, cfgScale: 1.5, batch: 1 });
    const text = explainText(plan);
    const rows = text.split('\n').filter((l) => /^\d+\t/.test(l));
    expect(rows).toHaveLength(5);
    expect(rows[1]!.split('\t')[1]).toBe(String(plan.stepBody[1]));
    expect(rows[1]).toMatch(/reuse/);
    expect(text).toMatch(/predicted speed-up/);
  });

  it('prints the calibrated prediction of --kernel-times beside the roofline one', () => {
    const o = { steps: 5, cfgScale: 1.5, batch: 1 };
    const graph = buildDiTGraph(TINY_DIT, 2);
    const { plan } = compile(graph, fora(TINY_DIT.depth, 5, 2), o);
    const base = compile(graph, undefined, o).plan;
    const times = withAllComputeStep({ ...rooflineKernelTimes(), source: 'measured', adapter: 'unit', overheadMsPerDispatch: 0.2 }, base, { ...HARDWARE_CAPS });
    const prediction = calibratedPrediction(plan, times);
    const text = explainText(plan, { prediction, file: 'times.json' });
    expect(text).toMatch(/calibrated \(kernel times measured on unit, times\.json\): predicted run [0-9.]+ ms/);
    expect(text).toContain(`calibrated speed-up ${prediction.speedup!.toFixed(2)}x`);
    // A host time per dispatch makes dispatches dearer than FLOPs: the reuse plan's gain shrinks against the roofline's.
    expect(prediction.speedup!).toBeLessThan(plan.cost.predictedSpeedup);
    expect(text.split('\n').find((l) => l.startsWith('step\t'))).toContain('cal ms');
  });

  it('draws DiT-XL/2 at 250 steps as a compact heatmap with split cells for differing branches', () => {
    const depth = DIT_XL_2.depth;
    const s = schedule('xl', 250, (k) => (k % 3 === 0 ? {} : Object.fromEntries(Array.from({ length: depth }, (_, i) => [`blocks[${i}].mlp`, k > 200 ? { cond: R, uncond: { kind: 'compute' } } : both(R)]))));
    const { plan } = compile(buildDiTGraph(DIT_XL_2, 2), s, { steps: 250, cfgScale: 1.5, batch: 1 });
    const svg = explainSvg(plan);
    expect(plan.heatmap.rows).toHaveLength(3 * depth); // qkv, attn, mlp of every block
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.length).toBeLessThan(2_000_000);
    const width = Number(/width="(\d+)"/.exec(svg)![1]);
    expect(width).toBeGreaterThanOrEqual(250 * 3);
    expect(svg).toContain('blocks[27].mlp');
    expect(svg).toContain('#6dbf6d'); // reuse cells
    expect(plan.heatmap.uncond[202]).not.toBeNull();
  });
});
