import { afterEach, describe, expect, it, vi } from 'vitest';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { DittoError } from '../../core/errors.ts';
import { registerWeights } from '../../cli/commands/weights.ts';
import { loadWeights, openWeights } from '../../runtime/weights/index.ts';
import { buildDiTGraph, TINY_DIT } from '../helpers/ditGraph.ts';
import { runInProcess } from '../cli/helpers.ts';
import { fixture, tempDir } from './helpers.ts';

/** Runs `ditto weights …` in process and returns what it printed. */
function run(args: string[]): Promise<string> {
  return runInProcess((program) => registerWeights(program, { lowerModelGraph: () => buildDiTGraph(TINY_DIT, 1) }), ['weights', ...args]);
}

afterEach(() => vi.restoreAllMocks());

describe('ditto weights', () => {
  it('inspect prints format, count, params, dtypes and every tensor (.pt)', async () => {
    const out = await run(['inspect', fixture('bf16_ema.pt')]);
    expect(out).toMatch(/format\s+pytorch/);
    expect(out).toMatch(/metadata\s+wrapper=ema/);
    expect(out).toMatch(/tensors\s+2\n/);
    expect(out).toMatch(/params\s+9\n/);
    expect(out).toMatch(/dtypes\s+BF16 ×2/);
    expect(out).toMatch(/^a\s+\[2, 3\]\s+BF16$/m);
  });

  it('inspect --json on safetensors', async () => {
    const j = JSON.parse(await run(['inspect', fixture('f32.expected.safetensors'), '--json']));
    expect(j.format).toBe('safetensors');
    expect(j.tensors).toBe(4);
    expect(j.params).toBe(4 * 3 * 2 * 2 + 4 + 5 * 16 + 5);
    expect(j.entries[0]).toEqual({ name: '0.weight', shape: [4, 3, 2, 2], dtype: 'F32' });
  });

  it('convert writes a safetensors file with the same tensors', async () => {
    const out = path.join(tempDir(), 'views.safetensors');
    expect(await run(['convert', fixture('views_model.pt'), out])).toMatch(/^wrote 8 tensors \(\d+ parameters\) to /);
    const a = loadWeights(out).tensors;
    const b = loadWeights(fixture('views_model.expected.safetensors')).tensors;
    expect([...a.keys()]).toEqual([...b.keys()]);
    for (const [k, t] of b) expect(Array.from(a.get(k)!.data), k).toEqual(Array.from(t.data));
    expect(openWeights(out).metadata).toEqual({ converted_from: 'views_model.pt', source_format: 'pytorch' });
  });

  it('convert refuses to overwrite its input', async () => {
    await expect(run(['convert', fixture('f32.pt'), fixture('f32.pt')])).rejects.toThrow(DittoError);
  });

  it('random writes seeded weights for the model, reproducibly', async () => {
    const dir = tempDir();
    const a = path.join(dir, 'a.safetensors');
    const b = path.join(dir, 'b.safetensors');
    expect(await run(['random', 'dit.ditto', '--model', 'DiT', '--out', a, '--seed', '4'])).toMatch(/wrote 32 random tensors \(\d[\d,]* parameters, seed 4\) for model DiT/);
    await run(['random', 'dit.ditto', '--out', b, '--seed', '4']);
    const wa = loadWeights(a).tensors;
    const wb = loadWeights(b).tensors;
    expect(wa.size).toBe(32);
    for (const [k, t] of wa) expect(Array.from(t.data), k).toEqual(Array.from(wb.get(k)!.data));
    expect(openWeights(a).metadata.seed).toBe('4');
    expect(readdirSync(dir).sort()).toEqual(['a.safetensors', 'b.safetensors']);
    await expect(run(['random', 'dit.ditto', '--out', a, '--seed', 'x'])).rejects.toThrow(/--seed expects an integer/);
  });

  it('errors in the files are DittoErrors', async () => {
    await expect(run(['inspect', fixture('missing.pt')])).rejects.toThrow(/cannot read weights/);
  });
});
