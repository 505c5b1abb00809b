import { describe, expect, it } from 'vitest';
import { calibrateFlops, emitCalibrate, LAVAPIPE_CAPS, selectCalibrate, DEFAULT_CAPS, type CalibrateConfig } from '../../compiler/kernels/index.ts';
import { runKernel } from '../../runtime/kernelRunner.ts';
import { gpuOrSkip } from '../helpers/gpu.ts';

const gpu = await gpuOrSkip();

describe('calibrate_fma selection (no GPU)', () => {
  it('does about the requested work, and at least enough workgroups to fill the adapter', () => {
    for (const target of [1e6, 2 ** 32, 1e11]) {
      const c = selectCalibrate({ targetFlops: target }, LAVAPIPE_CAPS);
      expect(c.workgroups).toBeGreaterThanOrEqual(64);
      expect(calibrateFlops(c)).toBeGreaterThanOrEqual(target);
      if (c.workgroups > 64) expect(calibrateFlops(c)).toBeLessThan(target * 1.01 + calibrateFlops({ ...c, workgroups: 1 }));
    }
  });
  it('is deterministic, keyed, and has no loads inside its loop', () => {
    const a = emitCalibrate(selectCalibrate({}, DEFAULT_CAPS));
    expect(emitCalibrate(selectCalibrate({}, DEFAULT_CAPS))).toEqual(a);
    expect(a.key.startsWith('calibrate_fma:')).toBe(true);
    const loop = a.wgsl.slice(a.wgsl.indexOf('for ('), a.wgsl.indexOf('let s ='));
    expect(loop).not.toMatch(/coef|out\[/);
  });
});

describe.skipIf(!gpu)('calibrate_fma on the GPU', () => {
  it('computes the recurrence a ← a·m + k on every chain and stores the sum', async () => {
    const c: CalibrateConfig = { workgroupSize: 8, workgroups: 3, iterations: 5, chains: 4, maxWorkgroupsPerDimension: 65535 };
    const k = emitCalibrate(c);
    const steps = calibrateFlops(c) / (c.workgroupSize * c.workgroups * c.chains * 8); // updates per chain
    const [m, add] = [0.9, 0.01];
    const out = await runKernel(gpu!, k, { coef: new Float32Array([m, add]), out: new Float32Array(24) });
    const want = Float32Array.from({ length: 24 }, (_, gid) => {
      let sum = 0;
      for (let i = 0; i < c.chains; i++) {
        const lanes = [Math.fround(gid * 1e-6 + i * 0.01), 0.1, 0.2, 0.3];
        for (const x0 of lanes) {
          let x = x0;
          for (let s = 0; s < steps; s++) x = x * m + add;
          sum += x;
        }
      }
      return sum;
    });
    expect(out.out as Float32Array).toAllClose(want, { atol: 1e-4, rtol: 1e-4 });
  });
});
