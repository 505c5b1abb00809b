/**
 * Every flag of every verb, abused one at a time on a cheap, otherwise valid invocation of the
 * verb: empty, negative, NaN, overflowing and non-numeric values, a directory, a missing path and
 * an input file as the value (for outputs: the overwrite attempt). Large valid numbers are left
 * out on purpose — `--samples 1000000` is a long run, not a bug. The option lists come from the
 * verbs' own commander definitions, so a new flag is fuzzed without editing this file.
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command, type Option } from 'commander';
import { VERBS } from '../../cli/main.ts';
import { tensor } from '../../core/tensor.ts';
import { writeSafetensors } from '../../runtime/weights/index.ts';
import { cliCase, GPU_HANG_MS, HANG_MS, runCli, type Outcome } from './harness.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

export interface FlagFixture {
  dir: string;
  model: string;
  pixelModel: string;
  weights: string;
  pixelWeights: string;
  plan: string;
  inputs: string;
  images: string;
  /** The fixture's files; a case checks those its valid invocation reads. */
  inputsList: string[];
}

export async function prepareFlagFixture(dir: string): Promise<FlagFixture> {
  mkdirSync(dir, { recursive: true });
  const model = path.join(dir, 'dit.ditto');
  const pixelModel = path.join(dir, 'fmnist.ditto');
  copyFileSync(path.join(ROOT, 'models/dit.ditto'), model);
  copyFileSync(path.join(ROOT, 'models/fmnist.ditto'), pixelModel);
  const pixelWeights = path.join(dir, 'fmnist.safetensors');
  copyFileSync(path.join(ROOT, 'models/weights/fmnist-dit.safetensors'), pixelWeights);
  const weights = path.join(dir, 'tiny.safetensors');
  const plan = path.join(dir, 'plan.json');
  const a = await runCli(['weights', 'random', model, '--model', 'DiT-Tiny', '--out', weights]);
  const b = await runCli(['compile', model, '--model', 'DiT-Tiny', '--schedule', 'fora(N=2)', '--steps', '2', '--caps', 'lavapipe', '-o', plan]);
  if (a.exit !== 0 || b.exit !== 0) throw new Error(`fuzz: cannot prepare the flag fixture: ${a.err}${b.err}`);
  const inputs = path.join(dir, 'inputs.safetensors');
  writeSafetensors(inputs, new Map([['x', tensor([1, 4, 8, 8])], ['t', tensor([1], [10])], ['y', tensor([1], [1])]]));
  const images = path.join(dir, 'images.safetensors');
  writeSafetensors(images, new Map([['images', tensor([2, 1, 28, 28], Array.from({ length: 2 * 784 }, (_, i) => Math.sin(i)))]]));
  return { dir, model, pixelModel, weights, pixelWeights, plan, inputs, images, inputsList: [model, pixelModel, weights, pixelWeights, plan, inputs, images] };
}

/** A cheap valid invocation per verb path (`weights convert`), outputs inside the fixture. */
function baseArgs(f: FlagFixture): Record<string, string[]> {
  const o = (name: string) => path.join(f.dir, 'out', name);
  return {
    info: [],
    check: [f.model],
    compile: [f.model, '--model', 'DiT-Tiny', '--steps', '2', '--caps', 'lavapipe', '-o', o('plan.json')],
    explain: [f.plan],
    'weights inspect': [f.weights],
    'weights convert': [f.weights, o('converted.safetensors')],
    'weights random': [f.model, '--model', 'DiT-Tiny', '--out', o('random.safetensors')],
    forward: [f.model, '--model', 'DiT-Tiny', '--weights', f.weights, '--inputs', f.inputs, '-o', o('forward.safetensors')],
    run: [f.plan, '--weights', f.weights, '--save-latents', o('latents.safetensors')],
    fid: [f.images],
    calibrate: [f.model, '--model', 'DiT-Tiny', '--weights', f.weights, '--steps', '2', '--budget', '0.9', '--samples', '1', '-o', o('cal.ditto')],
    eval: [f.pixelModel, '--weights', f.pixelWeights, '--schedules', 'fora(N=2)', '--samples', '1', '--steps', '2', '--batch', '1', '--out-dir', o('eval')],
    demo: ['--weights', f.pixelWeights, '--steps', '2', '--per-class', '1', '--out', o('demo.png')],
    bench: [f.model, '--model', 'DiT-Tiny', '--schedules', 'fora(N=2)', '--steps', '2', '--runs', '1', '--peer', 'none', '--cfg', 'none', '--out-dir', o('bench')],
  };
}

/** Verbs whose valid base run costs seconds (GPU or the CPU reference): fewer values each. */
const SLOW = new Set(['run', 'eval', 'demo', 'bench', 'calibrate', 'info', 'forward']);

/** Every (verb path, option) pair of the CLI, from the real command definitions. */
export async function allFlags(): Promise<{ verb: string; option: Option }[]> {
  const out: { verb: string; option: Option }[] = [];
  for (const [name, v] of Object.entries(VERBS)) {
    const program = new Command('ditto');
    (await v.load())(program);
    const cmd = program.commands.find((c) => c.name() === name);
    if (!cmd) continue;
    const visit = (c: Command, prefix: string) => {
      for (const option of c.options) out.push({ verb: prefix, option });
      for (const sub of c.commands) visit(sub, `${prefix} ${sub.name()}`);
    };
    visit(cmd, name);
  }
  return out;
}

function badValues(f: FlagFixture, slow: boolean): string[] {
  const all = ['', '-1', '0', 'NaN', '1e309', 'abc', '1.5', '99999999999999999999999', f.dir, path.join(f.dir, 'nope', 'x.bin'), f.weights, f.plan, f.model, 'x'.repeat(5000), '\u0000'];
  return slow ? ['', '-1', 'NaN', f.dir, path.join(f.dir, 'nope', 'x.bin'), f.weights, f.model] : all;
}

/** Replaces the option's value in `base` (or appends it) with `value`. */
function withFlag(base: string[], flag: string, value: string | undefined): string[] {
  const args = [...base];
  const i = args.indexOf(flag);
  if (i >= 0 && value !== undefined) args[i + 1] = value;
  else if (i < 0) args.push(flag, ...(value !== undefined ? [value] : []));
  return args;
}

export interface FlagCase {
  verb: string;
  args: string[];
  /** The fixture files the valid invocation reads: no abuse of any flag may change them. */
  inputs: string[];
}

export async function flagCases(f: FlagFixture): Promise<FlagCase[]> {
  const base = baseArgs(f);
  const cases: FlagCase[] = [];
  for (const { verb, option } of await allFlags()) {
    if (option.long === '--help' || option.long === '--version') continue;
    const b = base[verb];
    if (!b) continue;
    const flag = option.long ?? option.short!;
    const takesValue = option.required || option.optional;
    const values = takesValue ? badValues(f, SLOW.has(verb)) : [undefined];
    const inputs = f.inputsList.filter((x) => b.includes(x));
    for (const v of values) cases.push({ verb, args: [...verb.split(' '), ...withFlag(b, flag, v)], inputs });
  }
  // And per verb: no arguments at all, an unknown flag, and the valid base itself.
  for (const [verb, b] of Object.entries(base)) {
    const inputs = f.inputsList.filter((x) => b.includes(x));
    cases.push({ verb, args: [...verb.split(' ')], inputs });
    cases.push({ verb, args: [...verb.split(' '), ...b, '--no-such-flag'], inputs });
    cases.push({ verb, args: [...verb.split(' '), ...b], inputs });
  }
  return cases;
}

export async function flagCase(f: FlagFixture, c: FlagCase): Promise<Outcome> {
  mkdirSync(path.join(f.dir, 'out'), { recursive: true });
  writeFileSync(path.join(f.dir, 'out', '.keep'), '');
  // The slow verbs do real work on a valid invocation (sampling, calibration, an eval): wider limit.
  return cliCase(c.args, c.inputs, undefined, SLOW.has(c.verb) ? GPU_HANG_MS : HANG_MS);
}
