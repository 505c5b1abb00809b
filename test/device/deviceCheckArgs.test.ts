/** The device check refuses bad arguments at once, with exit 1 and one clear line. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../cli/helpers.ts';

function check(args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/deviceCheck.ts'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stderr: r.stderr };
}

describe('device-check arguments', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ditto-dc-args-'));
  const file = path.join(dir, 'a-file');
  writeFileSync(file, 'x');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  it.each([
    [[], 'give --out DIR'],
    [['--out', file], 'is a file; name a folder'],
    [['--out', dir, '--runs', '0'], '--runs must be a whole number'],
    [['--out', dir, '--budget-s', 'soon'], '--budget-s must be a positive number'],
    [['--out', dir, '--dawn-toggle', 'allow_unsafe_api'], "did you mean 'allow_unsafe_apis'"],
    [['--out', dir, '--frobnicate'], 'usage: npm run device-check'],
  ])('%j → %s', (args, message) => {
    const r = check(args);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  }, 120_000);
});
