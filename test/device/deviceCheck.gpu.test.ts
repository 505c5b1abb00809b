/**
 * `npm run device-check -- --out DIR --quick` end to end on this machine's adapter, through the
 * shell entry point, with the carried Vulkan loader forced (DITTO_BRING_LOADER=1): the .deb packages
 * are unpacked into a temporary prefix and Dawn must load libvulkan from there.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { gpuOrSkip } from '../helpers/gpu.ts';
import { ROOT } from '../cli/helpers.ts';

const gpu = await gpuOrSkip();

interface Row { name: string; predictedSpeedup: number; rooflineSpeedup: number; speedup: number; realised: number; fidelity: { psnr: number | string }; profile?: { totalMs: number; byFamily: { name: string; ms: number }[] } }

describe.skipIf(!gpu)('device check (--quick) on this adapter', () => {
  it('brings its own Vulkan loader, runs every section and writes a report that says what it measured', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ditto-device-check-'));
    const out = path.join(dir, 'report');
    const prefix = path.join(dir, 'loader');
    // No time budget: on a loaded machine the sections take longer, and that must not skip them.
    const r = spawnSync('sh', [path.join(ROOT, 'bench/device-check/run.sh'), '--out', out, '--quick', '--budget-s', '1000000'], {
      cwd: ROOT, encoding: 'utf8', timeout: 900_000,
      env: { ...process.env, DITTO_BRING_LOADER: '1', DITTO_VULKAN_PREFIX: prefix },
    });
    expect(r.stderr + r.stdout).not.toMatch(/internal error/);
    expect([r.status, r.stdout]).toEqual([0, expect.stringContaining('device-check.md')]);

    const report = JSON.parse(readFileSync(path.join(out, 'device-check.json'), 'utf8')) as {
      meta: Record<string, string>;
      data: {
        records: { name: string; status: string }[];
        machine: Record<string, string>;
        info: { adapter: { name: string; features: string[] }; toggles: { enabled: string[] } };
        probes: { label: string; gained?: string[]; error?: string }[];
        peak: { gflops: number; gbps: number };
        kernels: { kind: string; ms: number; gflops: number | null }[];
        schedules: { model: string; rows: Row[] };
      };
    };
    const d = report.data;
    expect(d.records.map((x) => [x.name, x.status])).toEqual([['machine', 'ok'], ['adapter', 'ok'], ['kernels', 'ok'], ['schedules', 'ok']]);
    expect(report.meta['status']).toBe('complete, every section ok');
    // The loader came from the unpacked packages, and Dawn really opened that file.
    expect(d.machine['Vulkan loader']).toContain('libvulkan1');
    expect(d.machine['Vulkan loader in use']).toContain(prefix);
    expect(d.info.adapter.name).toBe(gpu!.report.name);
    expect(d.info.toggles.enabled).toContain('vulkan_enable_f16_on_nvidia');
    expect(d.probes.find((p) => p.label === 'with allow_unsafe_apis')?.gained?.length).toBeGreaterThan(0);
    // Kernel bench: every family timed against a measured peak.
    expect(d.peak.gflops).toBeGreaterThan(0);
    expect(new Set(d.kernels.map((k) => k.kind))).toEqual(new Set(['matmul', 'attention', 'layernorm_modulate']));
    for (const k of d.kernels) expect(k.ms).toBeGreaterThan(0);
    // Schedules: the four plans, the plan's prediction beside the measurement, a profile per plan.
    expect(d.schedules.model).toBe('DiT-XL/2');
    expect(d.schedules.rows.map((x) => x.name)).toEqual(['no cache', 'ebcache_table', 'fora(N=3)', 'taylorseer']);
    for (const row of d.schedules.rows.slice(1)) {
      // The roofline is fixed by the plan; the calibrated prediction rests on kernel times measured
      // on a possibly loaded machine, so only its consistency is asserted.
      expect(row.rooflineSpeedup).toBeGreaterThan(1);
      expect(row.predictedSpeedup).toBeGreaterThan(0);
      expect(row.realised).toBeCloseTo(row.speedup / row.predictedSpeedup, 6);
      expect(typeof row.fidelity.psnr === 'number' && row.fidelity.psnr > 0).toBe(true);
    }
    for (const row of d.schedules.rows) {
      const families = row.profile!.byFamily.map((f) => f.name);
      expect(families).toEqual(expect.arrayContaining(['matmul', 'attention']));
      expect(row.profile!.byFamily.reduce((s, f) => s + f.ms, 0)).toBeCloseTo(row.profile!.totalMs, 3);
    }
    const md = readFileSync(path.join(out, 'device-check.md'), 'utf8');
    for (const title of ['## Sections', '## Machine', '## Adapter (ditto info)', '## What the toggles change', '## Kernels: Matmul', '## Kernels: Attention',
      '## DiT-XL/2: cache schedules (50 DDPM steps, CFG 1.5', '## GPU time per kernel family']) expect(md).toContain(title);
    expect(readFileSync(path.join(out, 'device-check.log'), 'utf8')).toContain('[schedules] ok');
    rmSync(dir, { recursive: true, force: true });
  }, 900_000);

  it('skips the timed sections once its time budget is spent, says so, and exits 1', () => {
    const out = mkdtempSync(path.join(tmpdir(), 'ditto-device-check-budget-'));
    const r = spawnSync('sh', [path.join(ROOT, 'bench/device-check/run.sh'), '--out', out, '--quick', '--budget-s', '0.001'], { cwd: ROOT, encoding: 'utf8', timeout: 600_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('finished with failed or skipped sections');
    const report = JSON.parse(readFileSync(path.join(out, 'device-check.json'), 'utf8')) as { meta: Record<string, string>; data: { records: { name: string; status: string; note?: string }[] } };
    expect(report.data.records.map((x) => [x.name, x.status])).toEqual([['machine', 'ok'], ['adapter', 'ok'], ['kernels', 'skipped'], ['schedules', 'skipped']]);
    expect(report.data.records[2]!.note).toContain('time budget of 0.001 s spent');
    expect(report.meta['status']).toBe('complete, with failed or skipped sections');
    expect(readFileSync(path.join(out, 'device-check.md'), 'utf8')).toMatch(/\| kernels \| skipped \|/);
    rmSync(out, { recursive: true, force: true });
  }, 600_000);
});
