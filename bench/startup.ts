/**
 * How fast the `ditto` command starts: `node -e 0` (the floor: Node itself), `ditto --version`,
 * `ditto --help` and `ditto check` of a shipped schedule file, each a fresh process, interleaved
 * round by round after a warm-up (the figures of docs/development.md).
 *
 *   npm run build && npx tsx bench/startup.ts [--runs 10] [--source] [--baseline DIR]
 *
 * It times the compiled CLI (bin/ditto.js with DITTO_CLI=dist, what an installed package runs);
 * `--source` adds the same commands run from the TypeScript sources through tsx (a checkout's
 * default). `--baseline DIR` adds the same commands run by another built checkout (e.g.
 * `git worktree add /tmp/base <commit> && cd /tmp/base && npm ci && npm run build`), interleaved with
 * this one's, so a change is measured against its parent in one run under the same load. Wall time is what a user waits; CPU time (user + system of the child, from
 * /proc/self/stat on Linux) is less sensitive to other work on a shared machine, so both are shown,
 * with the load average before and after.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import path from 'node:path';
import { DittoError } from '../core/errors.ts';
import { PACKAGE_ROOT } from '../core/packageRoot.ts';
import { runIfMain } from './scriptMain.ts';
import { interleave, summarize, type Candidate } from './stats.ts';

const BIN = path.join(PACKAGE_ROOT, 'bin', 'ditto.js');
const CHECKED_FILE = path.join('models', 'schedules', 'fora.ditto');

/** Seconds of CPU used by this process's waited-for children so far; undefined off Linux. */
function childCpuSeconds(): number | undefined {
  try {
    // Fields after the ")" of the command name; cutime and cstime are fields 16 and 17 (1-based).
    const rest = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
    return (Number(rest[13]) + Number(rest[14])) / 100; // clock ticks; USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

export interface StartupCommand {
  name: string;
  args: string[];
  env?: Record<string, string>;
}

export function startupCommands(source: boolean, baseline?: string): StartupCommand[] {
  const ditto = (label: string, args: string[]): StartupCommand[] => [
    { name: `ditto ${label}`, args: [BIN, ...args], env: { DITTO_CLI: 'dist' } },
    ...(baseline !== undefined ? [{ name: `ditto ${label} (baseline)`, args: [path.join(baseline, 'bin', 'ditto.js'), ...args], env: { DITTO_CLI: 'dist' } }] : []),
    ...(source ? [{ name: `ditto ${label} (sources, tsx)`, args: [BIN, ...args], env: { DITTO_CLI: 'source' } }] : []),
  ];
  return [
    { name: 'node -e 0', args: ['-e', '0'] },
    ...ditto('--version', ['--version']),
    ...ditto('--help', ['--help']),
    ...ditto(`check ${CHECKED_FILE}`, ['check', CHECKED_FILE]),
  ];
}

function runOnce(c: StartupCommand, cpu: Map<string, number[]>): void {
  const before = childCpuSeconds();
  const r = spawnSync(process.execPath, c.args, { cwd: PACKAGE_ROOT, env: { ...process.env, ...c.env }, encoding: 'utf8' });
  const after = childCpuSeconds();
  if (r.status !== 0) throw new DittoError('E_INPUT', `'${c.name}' exited with ${r.status}: ${(r.stderr || r.stdout).trim().split('\n')[0]}`);
  if (before !== undefined && after !== undefined) cpu.get(c.name)!.push(after - before);
}

function parseArgs(argv: string[]): { runs: number; source: boolean; baseline?: string } {
  let runs = 10;
  let source = false;
  let baseline: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--runs') {
      runs = Number(argv[++i]);
      if (!Number.isInteger(runs) || runs < 1) throw new DittoError('E_USAGE', `--runs expects a positive integer, got '${argv[i]}'`);
    } else if (argv[i] === '--source') source = true;
    else if (argv[i] === '--baseline') {
      baseline = path.resolve(argv[++i] ?? '');
      if (!existsSync(path.join(baseline, 'dist', 'cli', 'main.js'))) throw new DittoError('E_USAGE', `--baseline: '${baseline}' is not a built checkout (no dist/cli/main.js; run npm run build there)`);
    } else throw new DittoError('E_USAGE', `unknown argument '${argv[i]}' (bench/startup.ts [--runs N] [--source] [--baseline DIR])`);
  }
  return { runs, source, ...(baseline !== undefined ? { baseline } : {}) };
}

async function main(): Promise<void> {
  const { runs, source, baseline } = parseArgs(process.argv.slice(2));
  if (!existsSync(path.join(PACKAGE_ROOT, 'dist', 'cli', 'main.js'))) throw new DittoError('E_USAGE', 'no build to time: run `npm run build` first');
  const commands = startupCommands(source, baseline);
  const cpu = new Map(commands.map((c) => [c.name, [] as number[]]));
  const load0 = loadavg();
  const candidates: Candidate[] = commands.map((c) => ({ name: c.name, run: () => runOnce(c, cpu) }));
  const results = await interleave(candidates, { warmup: 1, runs, alternate: true });
  const load1 = loadavg();
  const fmt = (s: number) => `${Math.round(s)} ms`;
  const lines = [
    `ditto start-up: ${runs} runs each after 1 warm-up, interleaved; ${cpus()[0]?.model ?? 'unknown CPU'} × ${availableParallelism()}, Node ${process.versions.node}`,
    `load average (1 min) ${load0[0]!.toFixed(1)} before, ${load1[0]!.toFixed(1)} after`,
    '',
    '| command | wall median | wall min | CPU median (user + sys) |',
    '| --- | ---: | ---: | ---: |',
    ...results.map((r) => {
      const c = cpu.get(r.name)!;
      // The warm-up round's CPU is in the list too: drop it.
      const timed = c.slice(c.length - runs);
      return `| \`${r.name}\` | ${fmt(r.summary.median)} | ${fmt(r.summary.min)} | ${timed.length ? fmt(1000 * summarize(timed).median) : '—'} |`;
    }),
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

runIfMain(import.meta.url, main);
