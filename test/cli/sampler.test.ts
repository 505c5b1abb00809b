/**
 * A schedule made for one sampler (`sampler ddim`), as a user meets it on the real `ditto` process:
 * `compile` and `eval` with another `--sampler` exit 1 at the statement and write nothing; with
 * the declared sampler, or for a schedule that declares none, they go on as before.
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { looksLikeUserError, ROOT, runDitto, TINY_DIT } from './helpers.ts';

const TINY = TINY_DIT;
const FAST_MS = 60_000;
let dir: string;
let made: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'ditto-sampler-'));
  made = path.join(dir, 'made.ditto');
  writeFileSync(made, [
    `use "${path.join(ROOT, 'models/fmnist.ditto')}"`,
    '',
    'schedule made_ddim for DiT {',
    '  steps 6',
    '  sampler ddim',
    '  blocks[*].attn reuse at every 2 offset 1',
    '}',
    '',
    'schedule any for DiT {',
    '  steps 6',
    '  blocks[*].attn reuse at every 2 offset 1',
    '}',
    '',
  ].join('\n'));
});

const compile = (schedule: string, sampler: string, out: string) =>
  runDitto(['compile', 'models/dit.ditto', ...TINY, '--steps', '6', '--schedule', `${made}:${schedule}`, '--sampler', sampler, '--cfg', '2', '--caps', 'lavapipe', '-o', out], {}, FAST_MS);

describe('a schedule used with another sampler than it was made for', () => {
  it('compile refuses it at the statement, naming the schedule and both samplers, and writes no plan', () => {
    const out = path.join(dir, 'refused.json');
    const r = compile('made_ddim', 'ddpm', out);
    expect(looksLikeUserError(r)).toBe(true);
    expect(r.stderr).toContain('error[E_CHECK]: schedule `made_ddim` was made for the ddim sampler (`sampler ddim`), but it is used with ddpm: use a schedule made for ddpm, or sample with --sampler ddim');
    expect(r.stderr).toContain(`${made}:5:3: error:`);
    expect(r.stderr).toContain('`ditto fit teacache … --sampler ddpm`');
    expect(existsSync(out)).toBe(false);
  });

  it('compile accepts it with the sampler it declares, and a schedule declaring none with either', () => {
    for (const [schedule, sampler] of [['made_ddim', 'ddim'], ['any', 'ddpm'], ['any', 'ddim']] as const) {
      const out = path.join(dir, `${schedule}-${sampler}.json`);
      const r = compile(schedule, sampler, out);
      expect(r.stderr, `${schedule} under ${sampler}`).toBe('');
      expect(r.code).toBe(0);
      expect(existsSync(out)).toBe(true);
    }
  });

  it('eval refuses it before sampling anything and writes no output folder', () => {
    const outDir = path.join(dir, 'eval-out');
    const r = runDitto([
      'eval', 'models/fmnist.ditto', '--model', 'DiT-FMNIST', '--weights', 'models/weights/fmnist-dit.safetensors', '--schedules', `${made}:made_ddim`,
      '--samples', '2', '--steps', '6', '--sampler', 'ddpm', '--cfg', '2', '--device', 'reference', '--out-dir', outDir,
    ], {}, FAST_MS);
    expect(looksLikeUserError(r)).toBe(true);
    expect(r.stderr).toMatch(/error\[E_CHECK\]: --schedules '.*made_ddim' at 6 steps: schedule `made_ddim` was made for the ddim sampler \(`sampler ddim`\), but it is used with ddpm/);
    expect(r.stderr).toContain(`${made}:5:3: error:`);
    expect(existsSync(outDir)).toBe(false);
  });
});
