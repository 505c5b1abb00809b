/**
 * Mutated plans: one field of a small compiled plan replaced (a number, a string, null, an array,
 * a deleted key, a wrong size) or its WGSL edited. `ditto explain` must refuse every changed plan
 * (its hash no longer matches) and, with --allow-edited-plan, explain it or refuse it with exit 1;
 * a sample of them also runs on the GPU with --allow-edited-plan, where exit 0 must leave finite,
 * not all-zero latents.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadWeights } from '../../runtime/weights/index.ts';
import { cliCase, GPU_HANG_MS, runCli, type Outcome, type Rng } from './harness.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Compiles the base plan and random weights for it into `dir` (once per campaign). */
export async function preparePlanBase(dir: string): Promise<{ plan: string; weights: string }> {
  const plan = path.join(dir, 'base-plan.json');
  const weights = path.join(dir, 'base-weights.safetensors');
  const model = path.join(ROOT, 'models/dit.ditto');
  const a = await runCli(['compile', model, '--model', 'DiT-Tiny', '--schedule', 'fora(N=2)', '--steps', '3', '--cfg', '1.5', '--caps', 'lavapipe', '-o', plan]);
  const b = await runCli(['weights', 'random', model, '--model', 'DiT-Tiny', '--out', weights]);
  if (a.exit !== 0 || b.exit !== 0) throw new Error(`fuzz: cannot prepare the base plan: ${a.err}${b.err}`);
  return { plan, weights };
}

function paths(v: Json, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out);
  return out;
}

const VALUES: Json[] = [null, 0, -1, 1, 2, 3, 7, 255, 256, 4096, 1e9, 2 ** 31, 2 ** 53, -0.5, 1.5, '', 'x', 'read_write', 'latent', 'f16', [], [1], [0, 0, 0], {}, true, false];

function editWgsl(r: Rng, w: string): string {
  const at = r.int(w.length + 1);
  switch (r.int(4)) {
    case 0:
      return w.slice(0, at) + w.slice(at + 1 + r.int(20));
    case 1:
      return w.slice(0, at) + r.pick(['}', '{', ';', ' let x = 1.0 / 0.0;', '@binding(0)', 'fn f(', '\u0000', ' // edited\n']) + w.slice(at);
    case 2:
      return w.replace(/\d+u?/, () => String(r.int(100000)));
    default:
      return w + '\n// edited by hand\n';
  }
}

/** One mutation of the plan (returned as a new object). */
export function mutatePlan(r: Rng, base: Json): Json {
  const plan = structuredClone(base) as { [k: string]: Json };
  const roll = r.int(10);
  if (roll === 0) {
    const k = plan.kernels as { wgsl: string }[];
    const kern = r.pick(k);
    kern.wgsl = editWgsl(r, kern.wgsl);
    return plan;
  }
  if (roll === 1) {
    // Wrong sizes: the options disagree with the buffers (the F2 reproducer) or a buffer shrinks.
    if (r.bool()) (plan.options as { batch: number }).batch = r.pick([2, 3, 4, 8]);
    else {
      const b = r.pick(plan.buffers as { bytes: number }[]);
      b.bytes = Math.max(0, Math.floor(b.bytes / r.pick([2, 4, 16])));
    }
    return plan;
  }
  const all = paths(plan).filter((p) => p.length > 0);
  const target = r.pick(all);
  let parent: Json = plan;
  for (const k of target.slice(0, -1)) parent = (parent as Record<string | number, Json>)[k]!;
  const key = target[target.length - 1]!;
  if (r.bool(0.15)) {
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete (parent as Record<string, Json>)[key as string];
  } else {
    (parent as Record<string | number, Json>)[key] = structuredClone(r.pick(VALUES));
  }
  return plan;
}

/** Latents written by an exit-0 run: finite, and not all zero (a failed copy reads back zeros). */
function latentsLookRight(file: string): string | undefined {
  try {
    const t = loadWeights(file, 'latents').tensors.get('latents');
    if (!t) return 'no latents tensor';
    if ((t.data as Float32Array).every((v) => v === 0)) return 'all-zero latents';
    return undefined;
  } catch (e) {
    return `latents do not load clean: ${(e as Error).message.split('\n')[0]}`;
  }
}

export async function planCase(r: Rng, base: { plan: string; weights: string }, dir: string, i: number, gpu: boolean): Promise<Outcome[]> {
  const text = readFileSync(base.plan, 'utf8');
  const mutated = JSON.stringify(mutatePlan(r, JSON.parse(text) as Json));
  const file = path.join(dir, `p${i}.json`);
  writeFileSync(file, mutated);
  const changed = mutated !== JSON.stringify(JSON.parse(text));
  const outcomes: Outcome[] = [];
  // Without the opt-out a changed plan must be refused: exit 0 would mean the hash was not checked.
  outcomes.push(await cliCase(['explain', file], [file], () => (changed ? 'explained a changed plan without --allow-edited-plan' : undefined)));
  outcomes.push(await cliCase(['explain', '--allow-edited-plan', file], [file]));
  if (gpu) {
    const out = path.join(dir, `p${i}.latents.safetensors`);
    outcomes.push(await cliCase(['run', '--allow-edited-plan', file, '--weights', base.weights, '--save-latents', out], [file, base.weights], () => latentsLookRight(out), GPU_HANG_MS));
  }
  return outcomes;
}
