/**
 * `npm run fuzz -- [--seed N] [--sources N] [--weights N] [--plans N] [--gpu-plans N] [--flags all|fast|none] [--seconds S] [--report FILE]`
 *
 * A seeded, bounded fuzz campaign against the error contract. Every case is replayable from
 * (seed, family, kind, index). Stops generating when --seconds run out; prints per family the
 * outcomes (exit 0 / exit 1 / failures) and the slowest case; exits 1 when any case was an internal
 * error, a hang over 10 s, an overwritten input or a wrong exit 0.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { caseSeed, FAILURES, Rng, type Outcome } from './harness.ts';
import { CHECK_EVERY, SOURCE_KINDS, sourceCase } from './sources.ts';
import { WEIGHT_KINDS, weightCase } from './weights.ts';
import { planCase, preparePlanBase } from './plans.ts';
import { flagCase, flagCases, prepareFlagFixture } from './flags.ts';

interface Tally {
  counts: Record<string, number>;
  slowestMs: number;
  failures: { kind: string; index: number; verdict: string; detail?: string; args?: string[] }[];
}

const tallies = new Map<string, Tally>();

function record(family: string, kind: string, index: number, o: Outcome, args?: string[]): void {
  const t = tallies.get(family) ?? { counts: {}, slowestMs: 0, failures: [] };
  tallies.set(family, t);
  t.counts[o.verdict] = (t.counts[o.verdict] ?? 0) + 1;
  const n = Object.values(t.counts).reduce((a, b) => a + b, 0);
  if (n % 1000 === 0) process.stderr.write(`${family}: ${n} cases\n`);
  t.slowestMs = Math.max(t.slowestMs, o.ms);
  if (FAILURES.includes(o.verdict)) {
    t.failures.push({ kind, index, verdict: o.verdict, ...(o.detail ? { detail: o.detail } : {}), ...(args ? { args } : {}) });
    process.stderr.write(`FAIL ${family}/${kind} #${index}: ${o.verdict} ${o.detail ?? ''}\n`);
  }
}

async function main(): Promise<number> {
  const opts = new Command('fuzz')
    .option('--seed <n>', 'campaign seed', '1')
    .option('--sources <n>', 'fuzzed sources', '2000')
    .option('--weights <n>', 'corrupted weight files', '200')
    .option('--plans <n>', 'mutated plans (explain, with and without --allow-edited-plan)', '200')
    .option('--gpu-plans <n>', 'of those, how many also run on the GPU', '0')
    .option('--flags <which>', 'flag abuse: all (every flag of every verb), fast (the cheap verbs) or none', 'fast')
    .option('--seconds <s>', 'stop starting new cases after this long', '600')
    .option('--report <file>', 'write the tallies and failures as JSON')
    .parse(process.argv)
    .opts();
  const seed = Number(opts.seed);
  const deadline = performance.now() + Number(opts.seconds) * 1000;
  const inTime = () => performance.now() < deadline;
  process.env.XDG_RUNTIME_DIR ??= os.tmpdir();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ditto-fuzz-'));
  // Abused flags write relative paths ('-o 0', '--out abc'): into the campaign's folder, not here.
  const cwd = process.cwd();
  process.chdir(dir);
  const started = performance.now();
  try {
    for (let i = 0; i < Number(opts.sources) && inTime(); i++) {
      const kind = SOURCE_KINDS[i % SOURCE_KINDS.length]!;
      // Long lines are slow by design (up to a megabyte each): one in fifty.
      const k = kind === 'long-line' && i % 50 !== 4 ? 'mutation' : kind;
      const check = i % CHECK_EVERY === 0;
      record(check ? 'checked' : 'parsed', k, i, sourceCase(new Rng(caseSeed(seed, `source:${k}`, i)), k, check));
    }
    for (let i = 0; i < Number(opts.weights) && inTime(); i++) {
      const kind = WEIGHT_KINDS[i % WEIGHT_KINDS.length]!;
      record('weights', kind, i, await weightCase(new Rng(caseSeed(seed, `weights:${kind}`, i)), kind, dir, i));
      rmSync(path.join(dir, `w${i}.out.safetensors`), { force: true });
    }
    if (Number(opts.plans) > 0) {
      const base = await preparePlanBase(dir);
      for (let i = 0; i < Number(opts.plans) && inTime(); i++) {
        const gpu = i < Number(opts.gpuPlans);
        for (const o of await planCase(new Rng(caseSeed(seed, 'plan', i)), base, dir, i, gpu)) record('plans', gpu ? 'gpu' : 'explain', i, o);
      }
    }
    if (opts.flags !== 'none') {
      const fixture = await prepareFlagFixture(path.join(dir, 'flags'));
      const cheap = new Set(['check', 'compile', 'explain', 'weights inspect', 'weights convert', 'weights random', 'fid']);
      const cases = (await flagCases(fixture)).filter((c) => opts.flags === 'all' || cheap.has(c.verb));
      for (const [i, c] of cases.entries()) {
        if (!inTime()) break;
        record('flags', c.verb, i, await flagCase(fixture, c), c.args);
      }
    }
  } finally {
    process.chdir(cwd);
    rmSync(dir, { recursive: true, force: true });
  }
  const seconds = (performance.now() - started) / 1000;
  let failed = 0;
  process.stdout.write(`fuzz seed ${seed}, ${seconds.toFixed(0)} s\n`);
  for (const [family, t] of tallies) {
    const total = Object.values(t.counts).reduce((a, b) => a + b, 0);
    failed += t.failures.length;
    const parts = Object.entries(t.counts).map(([v, n]) => `${v} ${n}`).join(', ');
    process.stdout.write(`${family.padEnd(8)} ${String(total).padStart(7)} cases: ${parts}; slowest ${(t.slowestMs / 1000).toFixed(2)} s of CPU\n`);
  }
  process.stdout.write(failed === 0 ? 'no failures\n' : `${failed} FAILURES (internal errors, hangs, overwritten inputs or wrong exit 0)\n`);
  if (opts.report) writeFileSync(opts.report, JSON.stringify({ seed, seconds, families: Object.fromEntries(tallies) }, null, 2) + '\n');
  return failed === 0 ? 0 : 1;
}

process.exitCode = await main();
