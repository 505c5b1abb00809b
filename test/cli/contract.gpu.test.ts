import { describe, expect, it } from 'vitest';
import { looksLikeUserError, runDitto } from './helpers.ts';
import { gpuOrSkip } from '../helpers/gpu.ts';

describe('ditto CLI exit-code contract (spawned process)', () => {
  it('prints its version and exits 0', () => {
    const r = runDitto(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('lists the verbs in --help', () => {
    const r = runDitto(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('info');
    expect(r.stdout).not.toContain('internal-error-selftest');
  });

  it('exits 1 on an unknown command', () => {
    const r = runDitto(['frobnicate']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("unknown command 'frobnicate'");
  });

  it('exits 1 with a clear message on a bad flag value', () => {
    const r = runDitto(['info', '--backend', 'teapot']);
    expect(looksLikeUserError(r)).toBe(true);
    expect(r.stderr).toContain("unknown backend 'teapot'");
  });

  it('exits 2 with one line and "this is a bug" on an internal error, stack only with --debug', () => {
    const r = runDitto(['internal-error-selftest']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('this is a bug');
    const d = runDitto(['--debug', 'internal-error-selftest']);
    expect(d.code).toBe(2);
    expect(d.stderr).toMatch(/\n\s+at /);
  });

  it('without a Vulkan driver prints the install instructions and exits 1', () => {
    // Pointing the Vulkan loader at a driver list that does not exist is what a machine without
    // the mesa-vulkan-drivers package looks like to Dawn.
    const r = runDitto(['info'], { VK_ICD_FILENAMES: '/nonexistent/icd.json', VK_DRIVER_FILES: '/nonexistent/icd.json' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('No WebGPU adapter was found');
    expect(r.stderr).toContain('apt-get install -t bookworm-backports libvulkan1 mesa-vulkan-drivers');
    expect(r.stderr).toContain('XDG_RUNTIME_DIR');
    expect(r.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);
  });
});

const gpu = await gpuOrSkip();

describe.skipIf(!gpu)('ditto info on a real adapter', () => {
  it('names the adapter and lists shader-f16 (text and --json)', () => {
    const r = runDitto(['info']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(gpu!.report.name);
    expect(r.stdout).toMatch(/shader-f16 (yes|no)/);
    const j = runDitto(['info', '--json']);
    expect(j.code).toBe(0);
    const parsed = JSON.parse(j.stdout) as { adapter: { name: string; features: string[] }; versions: Record<string, string> };
    expect(parsed.adapter.name).toBe(gpu!.report.name);
    expect(parsed.versions.node).toBe(process.versions.node);
    expect(parsed.versions.dawn).toMatch(/^\d+\.\d+\.\d+$/);
    if (gpu!.report.isSoftware) {
      // lavapipe reports shader-f16; guard against a silent fallback to some other software adapter.
      expect(parsed.adapter.features).toContain('shader-f16');
      expect(parsed.adapter.name).toMatch(/llvmpipe.*Mesa 2[5-9]/);
    }
  });
});
