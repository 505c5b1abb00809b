import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { looksLikeUserError, runDitto } from '../cli/helpers.ts';

describe('ditto check', () => {
  it('prints ok and exits 0 for the shipped model and schedules', () => {
    const r = runDitto(['check', 'models/dit.ditto', 'models/schedules/fora.ditto', 'models/schedules/ebcache-table.ditto', 'models/schedules/first-block.ditto']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('ok\n');
    expect(r.code).toBe(0);
  });

  it('prints every diagnostic with file:line:col, the line and a caret, and exits 1', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ditto-check-'));
    const file = path.join(dir, 'bad.ditto');
    writeFileSync(file, `use "${path.resolve('models/dit.ditto')}"\nschedule s for DiT {\n  blocks[*].mpl reuse at every 2\n  blocks[0..40].attn reuse at every 2\n}\n`);
    const r = runDitto(['check', file]);
    expect(looksLikeUserError(r)).toBe(true);
    expect(r.stderr).toContain('error[E_CHECK]');
    expect(r.stderr).toMatch(/bad\.ditto:3:13: error: unknown node `blocks\[\*\]\.mpl`\n {2}3 \| {3}blocks\[\*\]\.mpl reuse at every 2\n {4}\| {13}\^\^\^/);
    expect(r.stderr).toContain('= help: did you mean `blocks[*].mlp`?');
    expect(r.stderr).toMatch(/bad\.ditto:4:10: error: block range 0..40 is out of range/);
    expect(r.stderr).toContain('2 errors');
  });

  it('refuses a fraction of tokens outside (0, 1] at its line and column, and exits 1', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ditto-check-'));
    const file = path.join(dir, 'tokens.ditto');
    writeFileSync(file, `use "${path.resolve('models/dit.ditto')}"\nschedule s(f = 0) for DiT {\n  steps 20\n  blocks[*].mlp compute tokens(f) at steps 1..20\n  blocks[*].attn compute tokens(1.5, by = cluster(2)) at steps 1..20\n}\n`);
    const r = runDitto(['check', file]);
    expect(looksLikeUserError(r)).toBe(true);
    expect(r.stderr).toMatch(/tokens\.ditto:4:32: error: the fraction of tokens computed must be > 0 and ≤ 1 \(1 computes every token\), got 0\n/);
    expect(r.stderr).toMatch(/tokens\.ditto:5:33: error: the fraction of tokens computed must be > 0 and ≤ 1 \(1 computes every token\), got 1\.5/);
    expect(r.stderr).toContain('2 errors');
  });

  it('answers a weights file passed as a source with one error saying what it looks like', () => {
    const r = runDitto(['check', 'models/weights/fmnist-dit.safetensors']);
    expect(looksLikeUserError(r)).toBe(true);
    expect(r.stderr).toMatch(/fmnist-dit\.safetensors:1:1: error: this is not a \.ditto source: .*safetensors weights file; weights go to --weights/);
    expect(r.stderr).toContain('\n1 error\n');
    expect(r.stderr.length).toBeLessThan(2000);
  });

  it('reports a missing file as a user error', () => {
    const r = runDitto(['check', 'no/such.ditto']);
    expect(looksLikeUserError(r)).toBe(true);
    expect(r.stderr).toContain("cannot read 'no/such.ditto': no such file");
  });
});
