/**
 * Bad input, as a user types it, on the real `ditto` process: each case must exit 1 with an
 * `error[E_…]` line naming what is wrong and where, no stack trace, no hang, no file left behind.
 * Every case fails before any GPU work.
 */
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { looksLikeUserError, runDitto, TINY_DIT } from './helpers.ts';

const TINY = TINY_DIT;
const FAST_MS = 30_000;
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'ditto-badinput-'));
  mkdirSync(path.join(dir, 'adir'));
  writeFileSync(path.join(dir, 'afile'), 'x');
  writeFileSync(path.join(dir, 'array.json'), '[1, 2]');
  const r = runDitto(['weights', 'random', 'models/dit.ditto', ...TINY, '--out', path.join(dir, 'tiny.safetensors')]);
  expect(r.code).toBe(0);
});

describe('model parameters out of range (--set)', () => {
  it('a huge depth fails fast at the repetition instead of unrolling for ever', () => {
    const r = runDitto(['weights', 'random', 'models/dit.ditto', '--model', 'DiT', '--set', 'depth=1000000000', '--out', path.join(dir, 'r.safetensors')], {}, FAST_MS);
    expect(looksLikeUserError(r)).toBe(true);
    expect(r.stderr).toContain('the repetition 0..1000000000 has 1000000000 instances');
    expect(r.stderr).toContain('models/dit.ditto:25:');
  });

  it('a huge hidden size is a user error naming the weight, not an internal typed-array failure', () => {
    const r = runDitto(['weights', 'random', 'models/dit.ditto', '--model', 'DiT', '--set', 'hidden=1000000000', '--out', path.join(dir, 'r.safetensors')], {}, FAST_MS);
    expect(looksLikeUserError(r)).toBe(true);
    expect(r.stderr).toMatch(/error\[E_USAGE\]: model DiT .*hidden=1000000000.*weight 'x_embedder\.proj\.weight' would have shape \[1000000000, 4, 2, 2\]/);
    expect(readdirSync(dir)).not.toContain('r.safetensors');
  });
});

describe('output paths', () => {
  it('writing onto a directory says so in words', () => {
    const r = runDitto(['weights', 'convert', path.join(dir, 'tiny.safetensors'), path.join(dir, 'adir')], {}, FAST_MS);
    expect(looksLikeUserError(r)).toBe(true);
    expect(r.stderr).toContain(`cannot write '${path.join(dir, 'adir')}': it is a directory`);
    expect(r.stderr).not.toContain('EISDIR');
  });

  it('a path through a file is a user error, not an internal one from cleaning up the temporary', () => {
    const out = path.join(dir, 'afile', 'x.safetensors');
    const r = runDitto(['weights', 'convert', path.join(dir, 'tiny.safetensors'), out], {}, FAST_MS);
    expect(looksLikeUserError(r)).toBe(true);
    expect(r.stderr).toContain(`cannot write '${out}': a part of its path is a file`);
  });

  it('compile checks -o before compiling and leaves nothing behind', () => {
    const out = path.join(dir, 'missing-dir', 'plan.json');
    const r = runDitto(['compile', 'models/dit.ditto', ...TINY, '--steps', '1', '--caps', 'hardware', '-o', out], {}, FAST_MS);
    expect(looksLikeUserError(r)).toBe(true);
    expect(r.stderr).toContain(`-o '${out}': the directory '${path.dirname(out)}' does not exist`);
    expect(readdirSync(dir)).not.toContain('missing-dir');
  });

  it('compile refuses a per_branch schedule without --cfg, naming the schedule and rule, and writes no plan', () => {
    const out = path.join(dir, 'per-branch.json');
    const r = runDitto(['compile', 'models/dit.ditto', ...TINY, '--steps', '6', '--schedule', 'teacache_branches', '--caps', 'lavapipe', '-o', out], {}, FAST_MS);
    expect(looksLikeUserError(r)).toBe(true);
    expect(r.stderr).toMatch(/error\[E_CHECK\]: schedule 'teacache_branches': dynamic rule 0 .* keeps one decision per CFG branch, so it needs CFG/);
    expect(readdirSync(dir)).not.toContain('per-branch.json');
  });

  it('demo refuses an --out in a missing directory before sampling (it used to sample, then fail)', () => {
    const out = path.join(dir, 'missing-dir', 'demo.png');
    const r = runDitto(['demo', '--out', out], {}, FAST_MS);
    expect(looksLikeUserError(r)).toBe(true);
    expect(r.stderr).toContain(`--out '${out}': the directory`);
    expect(r.stdout).toBe('');
  });

  it('forward refuses -o under a file before reading weights', () => {
    const out = path.join(dir, 'afile', 'f.safetensors');
    const w = path.join(dir, 'tiny.safetensors');
    const r = runDitto(['forward', 'models/dit.ditto', ...TINY, '--weights', w, '--inputs', w, '-o', out], {}, FAST_MS);
    expect(looksLikeUserError(r)).toBe(true);
    expect(r.stderr).toContain(`'${path.join(dir, 'afile')}' is not a directory`);
  });
});

describe('plan files', () => {
  it('explain names the plan file in a format error, as run does', () => {
    const file = path.join(dir, 'array.json');
    const r = runDitto(['explain', file], {}, FAST_MS);
    expect(looksLikeUserError(r)).toBe(true);
    expect(r.stderr).toContain(`error[E_PLAN]: ${file}: plan: (top level) must be an object`);
  });
});

describe('--kernel-times files (explain, bench)', () => {
  // A bound that turns a hang into a failure, not a speed check: one `ditto` start takes up to 30 s on the loaded 2-core machine.
  const CLI_MS = 180_000;
  let plan: string;
  beforeAll(() => {
    plan = path.join(dir, 'kt-plan.json');
    const r = runDitto(['compile', 'models/dit.ditto', ...TINY, '--steps', '4', '--schedule', 'fora(N=2)', '--caps', 'lavapipe', '-o', plan]);
    expect(r.code, r.stderr).toBe(0);
    writeFileSync(path.join(dir, 'kt-notjson.json'), '{ "kernelTimes": ');
    writeFileSync(path.join(dir, 'kt-shape.json'), JSON.stringify({ kernelTimes: { source: 'measured', adapter: 'x', bySignature: { a: 'slow' }, byFamily: {}, overall: { a: 1, b: 0 }, overheadMsPerDispatch: 0, samples: 1 } }));
  });

  const cases: [string, RegExp][] = [
    ['kt-missing.json', /cannot read --kernel-times '.*kt-missing\.json': no such file/],
    ['kt-notjson.json', /--kernel-times '.*kt-notjson\.json': not valid JSON/],
    ['array.json', /--kernel-times '.*array\.json': not a JSON object holding "kernelTimes"/],
    ['kt-shape.json', /--kernel-times '.*kt-shape\.json': kernelTimes\.bySignature\["a"\] must be a finite number/],
  ];
  it.each(cases)('explain --kernel-times %s exits 1 naming the file', (name, message) => {
    const r = runDitto(['explain', plan, '--kernel-times', path.join(dir, name)], {}, CLI_MS);
    expect(looksLikeUserError(r), r.stderr).toBe(true);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe('');
  });

  it.each(cases)('bench --kernel-times %s exits 1 naming the file, before any GPU work', (name, message) => {
    const out = path.join(dir, `bench-${name}`);
    const r = runDitto(['bench', 'models/dit.ditto', ...TINY, '--steps', '4', '--schedules', 'fora(N=2)', '--peer', 'none', '--kernel-times', path.join(dir, name), '--out-dir', out], {}, CLI_MS);
    expect(looksLikeUserError(r), r.stderr).toBe(true);
    expect(r.stderr).toMatch(message);
    expect(readdirSync(dir)).not.toContain(`bench-${name}`);
  });

  it('explain --kernel-times prints the calibrated prediction, and says when the file has no all-compute step for the plan', () => {
    const times = { source: 'measured', adapter: 'test adapter', bySignature: {}, byFamily: {}, overall: { a: 2, b: 0.5 }, overheadMsPerDispatch: 0.1, samples: 9 };
    writeFileSync(path.join(dir, 'kt-good.json'), JSON.stringify({ kernelTimes: times }));
    const r = runDitto(['explain', plan, '--kernel-times', path.join(dir, 'kt-good.json')], {}, CLI_MS);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/calibrated \(kernel times measured on test adapter, .*kt-good\.json\): predicted run [0-9.]+ ms/);
    expect(r.stdout).toMatch(/calibrated speed-up: not known — .*kt-good\.json holds no all-compute step of this model at batch 1/);
    const j = runDitto(['explain', plan, '--json', '--kernel-times', path.join(dir, 'kt-good.json')], {}, CLI_MS);
    expect(j.code, j.stderr).toBe(0);
    const summary = JSON.parse(j.stdout);
    expect(summary.calibrated.msPerRun).toBeGreaterThan(0);
    expect(summary.calibrated.speedup).toBeNull();
  });
});
