/** Dawn toggles reach the adapter: allow_unsafe_apis exposes experimental features on any adapter. */
import { describe, expect, it } from 'vitest';
import { createGpu } from '../../runtime/device.ts';
import { gpuOrSkip } from '../helpers/gpu.ts';
import { looksLikeUserError, runDitto } from '../cli/helpers.ts';
import { compile, createRunner } from '../../index.ts';
import { DIT_FILE, tinyGraph, TINY, weightsFor } from '../runtime/harness.ts';

const gpu = await gpuOrSkip();

describe.skipIf(!gpu)('Dawn toggles on a real adapter', () => {
  it('allow_unsafe_apis adds experimental features that the default device lacks', async () => {
    const plain = await createGpu();
    const unsafe = await createGpu({ toggles: ['allow_unsafe_apis'] });
    const extra = unsafe.report.features.filter((f) => !plain.report.features.includes(f));
    expect(extra.length).toBeGreaterThan(0);
    expect(extra.every((f) => f.startsWith('chromium-experimental-') || !plain.report.features.includes(f))).toBe(true);
    expect(unsafe.toggles.enabled).toEqual(['allow_unsafe_apis', 'vulkan_enable_f16_on_nvidia']);
    plain.device.destroy();
    unsafe.device.destroy();
  });

  it('ditto info lists the toggles in effect (text and --json)', () => {
    const r = runDitto(['info', '--dawn-toggle', 'allow_unsafe_apis', '--dawn-toggle', 'skip_validation=off']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/dawn toggles on: allow_unsafe_apis, vulkan_enable_f16_on_nvidia; off: skip_validation, timestamp_quantization/);
    expect(r.stdout).toMatch(/vulkan_enable_f16_on_nvidia\s+on \(ditto\)/);
    expect(r.stdout).toMatch(/timestamp_quantization\s+off \(ditto\)/);
    const j = JSON.parse(runDitto(['info', '--json']).stdout) as { toggles: { enabled: string[]; disabled: string[]; rows: { name: string; inThisDawn: boolean }[] } };
    expect([j.toggles.enabled, j.toggles.disabled]).toEqual([['vulkan_enable_f16_on_nvidia'], ['timestamp_quantization']]);
    expect(j.toggles.rows.find((t) => t.name === 'allow_unsafe_apis')?.inThisDawn).toBe(true);
  }, 600_000);

  it('a misspelt toggle is a usage error on every verb that opens a GPU, before any work', () => {
    for (const args of [['info'], ['run', 'nonexistent-plan.json', '--weights', 'w.safetensors'], ['bench', '--peer', 'none'], ['compile', 'models/dit.ditto', '--model', 'DiT-S/2', '--steps', '2', '--json']]) {
      const r = runDitto([...args, '--dawn-toggle', 'skip_validatoin']);
      expect(looksLikeUserError(r)).toBe(true);
      expect(r.stderr).toContain("did you mean 'skip_validation'");
    }
  }, 600_000);

  it('profiles are exact by default: Dawn\'s 65.536 µs timestamp rounding is off unless asked for', async () => {
    const plan = await compile(`use "${DIT_FILE}"`, { model: 'DiT-Tiny', steps: 2, caps: 'auto' });
    const step = 65536e-6; // ms
    const onGrid = (ms: number) => Math.abs(ms / step - Math.round(ms / step)) < 1e-6;
    const kernelTimes = async (toggles: string[]) => {
      const runner = await createRunner(plan, weightsFor(tinyGraph(TINY, 1), 3), { toggles });
      const out = await runner.run({ seed: 1, classes: [0], profile: true });
      runner.destroy();
      runner.gpu.device.destroy();
      return out.profile!.topKernels.map((k) => k.ms);
    };
    expect((await kernelTimes(['timestamp_quantization'])).every(onGrid)).toBe(true);
    expect((await kernelTimes([])).every(onGrid)).toBe(false);
  }, 600_000);

  it('the Node API opens its device with the toggles it is given', async () => {
    const plan = await compile(`use "${DIT_FILE}"`, { model: 'DiT-Tiny', steps: 1, device: { toggles: ['skip_validation'] } });
    const runner = await createRunner(plan, weightsFor(tinyGraph(TINY, 1), 3), { toggles: ['allow_unsafe_apis'] });
    expect(runner.gpu.toggles.enabled).toContain('allow_unsafe_apis');
    expect(runner.gpu.report.features.some((f) => f.startsWith('chromium-experimental-'))).toBe(true);
    const out = await runner.run({ seed: 1, classes: [0] });
    expect(out.latents.data.every(Number.isFinite)).toBe(true);
    runner.destroy();
    runner.gpu.device.destroy();
  }, 600_000);
});
