/**
 * One test per error kind: the message (regex), the source text under the span, and where there
 * is one the suggestion. Sources are checked inline as models/x.ditto, so `use "dit.ditto"`
 * reaches the shipped model.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeNpyInt64 } from '../../compiler/schedule/npy.ts';
import { diagnose, spanText } from './helpers.ts';

const FILE = 'models/x.ditto';

function model(body: string, params = 'depth = 2'): string {
  return `model M(${params}) {\n  input x: f32[B, 4, 8, 8]\n  input t: f32[B]\n  input y: i32[B]\n${body}\n  output out = silu(t)\n}\n`;
}

function schedule(body: string, header = 'schedule s for DiT'): string {
  return `use "dit.ditto"\n${header} {\n  steps 50\n${body}\n}\n`;
}

const tmp = mkdtempSync(path.join(tmpdir(), 'ditto-lang-'));
function npy(name: string, values: number[]): string {
  const f = path.join(tmp, name);
  writeFileSync(f, encodeNpyInt64(values));
  return f;
}
const shortTable = npy('short.npy', Array(40).fill(0));
const badFirst = npy('badfirst.npy', [...Array(49).fill(0), 2]);
const badCode = npy('badcode.npy', [0, 5, ...Array(48).fill(0)]);
const floatNpy = path.join(tmp, 'float.npy');
{
  const bytes = encodeNpyInt64(Array(50).fill(0));
  const text = Buffer.from(bytes).toString('latin1').replace("'<i8'", "'<f8'");
  writeFileSync(floatNpy, Buffer.from(text, 'latin1'));
}
const corruptNpy = path.join(tmp, 'corrupt.npy');
writeFileSync(corruptNpy, 'not a numpy file');
const badJson = path.join(tmp, 'bad.json');
writeFileSync(badJson, JSON.stringify({ attn: [1, 0, 1], mlp: Array(50).fill(1) }));

interface Case {
  kind: string;
  src: string;
  message: RegExp;
  span: string;
  suggestion?: string;
  severity?: 'error' | 'warning';
}

const cases: Case[] = [
  // ------------------------------------------------------------------ models
  { kind: 'unknown operator', src: model('  h = lineer(t, out: 4) @ "w"'), message: /^unknown operator `lineer`$/, span: 'lineer', suggestion: 'did you mean `linear`?' },
  { kind: 'unknown name', src: model('  h = silu(tt)'), message: /^unknown name `tt`$/, span: 'tt', suggestion: 'did you mean `t`?' },
  { kind: 'unknown named argument', src: model('  e = embedding(y, rows: 10, dmi: 8) @ "e"'), message: /`embedding` has no argument `dmi`/, span: 'dmi', suggestion: 'did you mean `dim`?' },
  { kind: 'missing argument', src: model('  e = embedding(y, rows: 10) @ "e"'), message: /`embedding` needs the argument `dim`/, span: 'embedding(y, rows: 10)' },
  { kind: 'too many arguments', src: model('  s = silu(t, t)'), message: /`silu` takes at most 1 argument \(x\), got 2/, span: 't' },
  { kind: 'too few tensor inputs', src: model('  m = modulate(t)'), message: /`modulate` takes 3 tensor inputs \(x, shift, scale\), got 1/, span: 'modulate' },
  { kind: 'argument given twice', src: model('  e = embedding(y, rows: 10, dim: 8, dim: 9) @ "e"'), message: /argument `dim` of `embedding` is given twice/, span: 'dim' },
  { kind: 'positional after named', src: model('  e = embedding(y, rows: 10, 8) @ "e"'), message: /a positional argument cannot follow a named one/, span: '8' },
  {
    kind: 'shape mismatch (divisibility)',
    src: model('  p = patch_embed(x, patch: 3, dim: 8) @ "p"'),
    message: /shape mismatch in `patch_embed`.*image 8×8 is not divisible by patch 3/,
    span: 'patch_embed(x, patch: 3, dim: 8)',
  },
  {
    kind: 'shape mismatch with both shapes',
    src: model('  p = patch_embed(x, patch: 2, dim: 8) @ "p"\n  m = modulate(p, timestep_embed(t, dim: 16), timestep_embed(t, dim: 16))'),
    message: /shift must be \[1, 8\] for x \[1, 16, 8\], got \[1, 16\]/,
    span: 'modulate(p, timestep_embed(t, dim: 16), timestep_embed(t, dim: 16))',
  },
  {
    kind: 'binary shapes do not broadcast',
    src: model('  a = timestep_embed(t, dim: 8) + timestep_embed(t, dim: 6)'),
    message: /shape mismatch in `\+`: shapes \[1, 8\] and \[1, 6\] do not broadcast/,
    span: 'timestep_embed(t, dim: 8) + timestep_embed(t, dim: 6)',
  },
  { kind: 'dtype mismatch', src: model('  e = embedding(t, rows: 10, dim: 8) @ "e"'), message: /embedding expects i32 ids, got f32/, span: 'embedding(t, rows: 10, dim: 8)' },
  { kind: 'unknown dtype', src: model('  input z: F32[B]'), message: /^unknown dtype `F32`$/, span: 'F32', suggestion: 'did you mean `f32`?' },
  { kind: 'missing weight name', src: model('  l = linear(t, out: 4)'), message: /`linear` reads weights: give it a weight name/, span: 'linear(t, out: 4)' },
  { kind: 'weight name on an op without weights', src: model('  s = silu(t) @ "w"'), message: /`silu` reads no weights; remove the weight name/, span: '"w"' },
  { kind: 'weight name on a non-call', src: model('  s = (t + t) @ "w"'), message: /can only follow an operator call/, span: '"w"' },
  { kind: 'unpack count', src: model('  a, b = chunk(timestep_embed(t, dim: 8), 4)'), message: /2 names on the left but `chunk` gives 4 values/, span: 'a, b = chunk(timestep_embed(t, dim: 8), 4)' },
  { kind: 'unpack a single value', src: model('  a, b = silu(t)'), message: /2 names on the left but the right side is a single value/, span: 'a, b = silu(t)' },
  { kind: 'several values used as one', src: model('  a = chunk(timestep_embed(t, dim: 8), 2) + t'), message: /without `index` gives several values/, span: 'chunk(timestep_embed(t, dim: 8), 2)' },
  {
    kind: 'unknown name in weight template',
    src: model('  h = timestep_embed(t, dim: 8)\n  for i in 0..depth as blocks[i] @ "blocks.{j}" {\n    h = h + silu(h)\n  }'),
    message: /unknown name `\{j\}` in the weight name "blocks.\{j\}"/,
    span: '"blocks.{j}"',
    suggestion: 'did you mean `i`?',
  },
  {
    kind: 'repetition without carried value',
    src: model('  h = timestep_embed(t, dim: 8)\n  for i in 0..depth as blocks[i] {\n    g = silu(h)\n  }'),
    message: /the repetition `blocks` rebinds no value from outside/,
    span: 'blocks',
  },
  {
    kind: 'nested repetitions',
    src: model('  h = timestep_embed(t, dim: 8)\n  for i in 0..depth as blocks[i] {\n    for j in 0..2 as inner[j] {\n      h = silu(h)\n    }\n    h = silu(h)\n  }'),
    message: /repetitions cannot be nested/,
    span: 'for j in 0..2 as inner[j] {\n      h = silu(h)\n    }',
  },
  { kind: 'rebinding a parameter', src: model('  depth = silu(t)'), message: /`depth` is a parameter or a `let` constant and cannot be rebound/, span: 'depth' },
  {
    kind: 'non-integer attribute',
    src: model('  let g = 9 / 2\n  p = pos_embed_2d(grid: g, dim: 8)'),
    message: /`grid` of `pos_embed_2d` must be a whole number ≥ 1, got 4.50000/,
    span: 'g',
  },
  { kind: 'tensor where a number is needed', src: model('  e = embedding(y, rows: t, dim: 8) @ "e"'), message: /`t` is a tensor; argument of `embedding` needs a number known at compile time/, span: 't' },
  { kind: 'division by zero', src: model('  let z = 1 / 0'), message: /division by zero/, span: '1 / 0' },
  { kind: 'predicate in a model', src: model('  a = every 2'), message: /step predicates belong in schedules/, span: 'every 2' },
  { kind: 'no output', src: 'model M {\n  input t: f32[B]\n  a = silu(t)\n}\n', message: /model `M` has no output/, span: 'M' },
  { kind: 'duplicate declaration', src: `${model('')}\n${model('')}`, message: /`M` is already defined at models\/x.ditto:1:1/, span: 'M' },
  { kind: 'duplicate parameter', src: model('', 'depth = 2, depth = 3'), message: /parameter `depth` is declared twice/, span: 'depth' },
  { kind: 'variant with unknown parameter', src: 'use "dit.ditto"\nvariant "V" = DiT(dpeth = 2)\n', message: /model `DiT` has no parameter `dpeth`/, span: 'dpeth', suggestion: 'did you mean `depth`?' },
  { kind: 'variant of an unknown model', src: 'use "dit.ditto"\nvariant "V" = DiX(depth = 2)\n', message: /unknown model or variant `DiX`/, span: 'DiX', suggestion: 'did you mean `DiT`?' },
  { kind: 'use of a missing file', src: 'use "nope.ditto"\n', message: /cannot read 'models\/nope.ditto': no such file/, span: '"nope.ditto"' },
  // --------------------------------------------------------------- schedules
  { kind: 'unknown node', src: schedule('  blocks[*].mpl reuse at every 2'), message: /^unknown node `blocks\[\*\]\.mpl`$/, span: 'mpl', suggestion: 'did you mean `blocks[*].mlp`?' },
  { kind: 'unknown top-level node', src: schedule('  t_embb reuse at every 2'), message: /^unknown node `t_embb`$/, span: 't_embb', suggestion: 'did you mean `t_emb`?' },
  { kind: 'block index out of range', src: schedule('  blocks[28].attn reuse at every 2'), message: /block index 28 is out of range: `blocks` has blocks 0..27/, span: '28' },
  { kind: 'block range out of range', src: schedule('  blocks[0..30].attn reuse at every 2'), message: /block range 0..30 is out of range/, span: '0..30' },
  { kind: 'empty block range', src: schedule('  blocks[5..2].attn reuse at every 2'), message: /block range 5..2 is empty/, span: '5..2' },
  { kind: 'overlapping block ranges', src: schedule('  blocks[0..14], blocks[10..28] reuse residual at every 2'), message: /overlapping selectors: `blocks\[10\]` is selected by both `blocks\[0..14\]` and `blocks\[10..28\]`/, span: 'blocks[10..28]' },
  { kind: 'group without index', src: schedule('  blocks reuse residual at every 2'), message: /`blocks` is a repetition of 28 blocks; select some of them/, span: 'blocks' },
  { kind: 'reuse before the first compute', src: schedule('  blocks[*].attn reuse'), message: /`blocks\[0\]\.attn` is reused at step 0 \(cond\) before it was ever computed/, span: 'blocks[*].attn reuse' },
  { kind: 'reuse residual on a node', src: schedule('  blocks[*].attn reuse residual at steps 1..S'), message: /`reuse residual` applies to blocks/, span: 'reuse residual' },
  { kind: 'reuse on a block', src: schedule('  blocks[3] reuse at steps 1..S'), message: /`blocks\[3\]` is a block; reuse its residual with `reuse residual`/, span: 'reuse' },
  { kind: 'table length differs from steps', src: schedule('  table "schedules/cache_table.npy" order countdown').replace('steps 50', 'steps 40'), message: /table '.*cache_table.npy' has 50 entries but the schedule has 40 steps/, span: '"schedules/cache_table.npy"' },
  { kind: 'table too short', src: schedule(`  table "${shortTable}" order countdown`), message: /short.npy' has 40 entries but the schedule has 50 steps/, span: `"${shortTable}"` },
  { kind: 'table first step not compute', src: schedule(`  table "${badFirst}" order countdown`), message: /badfirst.npy': the first sampling step \(index 49 in countdown order\) must be 0 \(compute\), found 2/, span: `"${badFirst}"` },
  { kind: 'unknown table code', src: schedule(`  table "${badCode}" order sampling`), message: /badcode.npy' has unknown code 5 at index 1/, span: `"${badCode}"` },
  { kind: 'table of the wrong dtype', src: schedule(`  table "${floatNpy}" order sampling`), message: /float.npy' is not a usable .npy table: the table must hold integers \(int64 or int32\), got dtype '<f8'/, span: `"${floatNpy}"` },
  { kind: 'corrupt table', src: schedule(`  table "${corruptNpy}" order sampling`), message: /corrupt.npy' is not a usable .npy table: it does not start with the .npy magic bytes/, span: `"${corruptNpy}"` },
  { kind: 'unknown table generator', src: schedule('  table foro(N: 2) order countdown'), message: /unknown table generator `foro`/, span: 'foro', suggestion: 'did you mean `fora`?' },
  { kind: 'JSON list of the wrong length', src: schedule(`  json "${badJson}"`), message: /bad.json': list `attn` has 3 entries but the schedule has 50 steps/, span: `"${badJson}"` },
  {
    kind: 'Taylor order above the refreshes available',
    src: schedule('  blocks[*].attn forecast taylor(3) at steps 1..S and not every 25'),
    message: /Taylor order 3 needs 4 computed steps, but `blocks\[0\]\.attn` is computed only 2 times/,
    span: 'blocks[*].attn forecast taylor(3) at steps 1..S and not every 25',
  },
  { kind: 'Taylor order out of range', src: schedule('  blocks[*].attn forecast taylor(0) at steps 1..S'), message: /a Taylor order must be a whole number in 1..8, got 0/, span: '0' },
  { kind: 'dynamic rule on a constant signal', src: schedule('  blocks[1..] reuse residual when rel_l1(y_emb) < 0.1'), message: /the signal `y_emb` is the same at every step/, span: 'y_emb' },
  { kind: 'dynamic rule on a reused signal', src: schedule('  blocks[0..] reuse residual when rel_l1(blocks[0]) < 0.1'), message: /the signal `blocks\[0\]\.h` is itself reused by this rule/, span: 'blocks[0]' },
  { kind: 'dynamic rule with compute action', src: schedule('  blocks[1..] compute when rel_l1(blocks[0]) < 0.1'), message: /its action must be `reuse` or `reuse residual`/, span: 'compute' },
  { kind: 'dynamic threshold not positive', src: schedule('  blocks[1..] reuse residual when rel_l1(blocks[0]) < 0'), message: /the threshold must be > 0/, span: '0' },
  { kind: 'transform_rate with plain reuse', src: schedule('  blocks[*].attn reuse when transform_rate(blocks[*]) < 0.3'), message: /the action must be `reuse residual`/, span: 'when transform_rate(blocks[*]) < 0.3' },
  { kind: 'transform_rate with an option it does not take', src: schedule('  blocks[*] reuse residual when transform_rate(blocks[*]) < 0.3 cap 1'), message: /`cap` does not apply to `transform_rate`/, span: '1' },
  { kind: 'magnitude with an option it does not take', src: schedule('  blocks[*] reuse residual when magnitude "schedules/magcache-fmnist.json" < 0.06 warmup 3 max 2'), message: /`warmup` does not apply to `magnitude` \(it takes `max` and `retain`/, span: '3' },
  { kind: 'magnitude with a total', src: schedule('  blocks[*] reuse residual when magnitude "schedules/magcache-fmnist.json" < 0.06 max 2 total 9'), message: /`total` does not apply to `magnitude`/, span: '9' },
  { kind: 'per_branch on transform_rate', src: schedule('  blocks[*] reuse residual when transform_rate(blocks[*]) < 0.3 per_branch'), message: /`per_branch` does not apply to `transform_rate`/, span: 'per_branch' },
  { kind: 'per_branch on magnitude', src: schedule('  blocks[*] reuse residual when magnitude "schedules/magcache-fmnist.json" < 0.06 per_branch'), message: /`per_branch` does not apply to `magnitude`: each CFG branch already follows its own curve/, span: 'per_branch' },
  { kind: 'per_branch with plain reuse', src: schedule('  blocks[1..].attn reuse when rel_l1(blocks[0].msa_in) < 0.3 per_branch'), message: /`per_branch` .* needs `reuse residual`/, span: 'per_branch' },
  { kind: 'transform_rate governing work before its span', src: schedule('  blocks[*] reuse residual when transform_rate(blocks[1..]) < 0.3'), message: /`blocks\[0\]` comes before the input of the measured span/, span: 'blocks[1..]' },
  { kind: 'transform_rate of nodes', src: schedule('  blocks[1..] reuse residual when transform_rate(blocks[0].attn) < 0.3'), message: /needs a block or a range of blocks/, span: 'blocks[0].attn' },
  { kind: 'trajectory fraction out of range', src: schedule('  blocks[*].attn reuse at t < 1.5 and not every 2'), message: /trajectory fraction 1.5 is outside \[0, 1\]/, span: '1.5' },
  { kind: 'step range outside the schedule', src: schedule('  blocks[*].attn reuse at steps 1..60'), message: /step range 1..60 is outside 0..50/, span: 'steps 1..60' },
  { kind: 'every zero', src: schedule('  blocks[*].attn reuse at not every 0'), message: /`every` needs a whole number ≥ 1, got 0/, span: '0' },
  { kind: 'predicate that is a number', src: schedule('  blocks[*].attn reuse at k + 1'), message: /a step predicate must be a condition, found a number/, span: 'k + 1' },
  { kind: 'unknown name in a predicate', src: schedule('  blocks[*].attn reuse at not every M', 'schedule s(N = 2) for DiT'), message: /unknown name `M` in a step predicate/, span: 'M', suggestion: 'did you mean `N`?' },
  { kind: 'schedule for an unknown model', src: schedule('', 'schedule s for DiX'), message: /unknown model or variant `DiX`/, span: 'DiX', suggestion: 'did you mean `DiT`?' },
  { kind: 'eps scale not positive', src: schedule('  eps_scale 0 - 1'), message: /the eps scale must be > 0, got -1 at step 0/, span: 'eps_scale 0 - 1' },
  { kind: 'bad b(t) direction', src: schedule('  eps_scale piecewise(direction: up)'), message: /`direction` is `multiply`/, span: 'up' },
  { kind: 'steps given twice', src: schedule('  steps 20'), message: /the step count is given twice/, span: 'steps 20' },
  { kind: 'nested branches', src: schedule('  cond {\n    uncond {\n    }\n  }'), message: /branch blocks cannot be nested/, span: 'uncond {\n    }' },
  { kind: 'reserved schedule parameter', src: schedule('', 'schedule s(k = 2) for DiT'), message: /`k` is reserved in schedules/, span: 'k' },
  { kind: 'rule that changes nothing', src: schedule('  blocks[*].attn compute at every 2'), message: /this rule changes nothing/, span: 'blocks[*].attn compute at every 2', severity: 'warning' },
  { kind: 'eps scale that changes nothing', src: schedule('  eps_scale 1'), message: /this rule changes nothing/, span: 'eps_scale 1', severity: 'warning' },
];

describe('semantic diagnostics: one per error kind, with message and span', () => {
  it('covers at least 25 distinct error kinds', () => {
    expect(new Set(cases.filter((c) => c.severity !== 'warning').map((c) => c.kind)).size).toBeGreaterThanOrEqual(25);
  });

  for (const c of cases) {
    it(c.kind, () => {
      const ds = diagnose(c.src, FILE);
      const hit = ds.find((d) => c.message.test(d.message));
      expect(hit, `no diagnostic matching ${c.message}; got:\n${ds.map((d) => `${d.severity}: ${d.message}`).join('\n')}`).toBeDefined();
      expect(hit!.severity).toBe(c.severity ?? 'error');
      expect(hit!.span?.file).toBe(c.src.includes(tmp) || !c.src ? hit!.span?.file : FILE);
      expect(spanText(c.src, hit!)).toBe(c.span);
      if (c.suggestion) expect(hit!.suggestion).toBe(c.suggestion);
      if (c.severity === 'warning') expect(ds.filter((d) => d.severity === 'error')).toEqual([]);
    });
  }
});
