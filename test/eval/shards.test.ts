/**
 * `ditto eval --shard i/N` and `--merge`: the union of any set of shards that tiles the samples
 * scores bit-identically to one single-process eval, and shards that are not one evaluation are
 * refused with every problem named.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { runEval } from '../../evaluation/eval/evaluate.ts';
import { runEvalShard, parseShardSpec, shardBatches, type ShardResult } from '../../evaluation/eval/shard.ts';
import { decodeShard, encodeShard, readShard, writeShard } from '../../evaluation/eval/shardFiles.ts';
import { mergeEvalShardDirs, mergeEvalShards } from '../../evaluation/eval/merge.ts';
import { randomWeights } from '../../runtime/weights/index.ts';
import { DittoError } from '../../core/errors.ts';
import type { EvalConfig } from '../../evaluation/eval/types.ts';
import { loadProgram, lowerModel } from '../../compiler/frontend.ts';
import { graphWeights } from '../../compiler/ir/graph.ts';
import { FMNIST, MODEL, scoreOf, tempDir, tinyConfig } from './helpers.ts';

/** 7 samples in batches of 2: 4 batches, the last one trimmed. */
const cfg = (over: Partial<EvalConfig> = {}) => tinyConfig({ schedules: ['fora(N=2)'], steps: 2, samples: 7, batch: 2, bootstrap: 20, ...over });

function shardError(run: () => unknown): DittoError {
  try {
    run();
  } catch (e) {
    expect(e).toBeInstanceOf(DittoError);
    return e as DittoError;
  }
  throw new Error('did not fail');
}

describe('eval shards', async () => {
  const single = await runEval(cfg());
  // Every shard of every split 1, 2, 3 and 4, sampled once.
  const shards = new Map<string, ShardResult>();
  for (const n of [1, 2, 3, 4]) for (let i = 0; i < n; i++) shards.set(`${i}/${n}`, await runEvalShard(cfg(), { index: i, count: n }));
  const named = (keys: string[]) => keys.map((k) => ({ where: `shard ${k}`, shard: shards.get(k)! }));

  it('cuts the batches into contiguous whole-batch ranges that tile the evaluation', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 500 }), fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 40 }), (samples, batch, n) => {
        const batches = Math.ceil(samples / batch);
        fc.pre(n <= batches);
        let next = 0;
        for (let i = 0; i < n; i++) {
          const r = shardBatches({ index: i, count: n }, samples, batch);
          expect(r.first).toBe(next);
          expect(r.end).toBeGreaterThan(r.first);
          next = r.end;
        }
        expect(next).toBe(batches);
      }),
    );
  });

  it('merges 1, 2, 3 and 4 shards, in any order, into the single-process scores bit for bit', () => {
    const want = scoreOf(single);
    for (const n of [1, 2, 3, 4]) {
      const keys = Array.from({ length: n }, (_, i) => `${i}/${n}`);
      for (const order of [keys, [...keys].reverse()]) expect(scoreOf(mergeEvalShards(named(order), { bootstrap: 20 }))).toEqual(want);
    }
    // Shards of different splits tile too: image g is the same whichever split sampled it.
    expect(scoreOf(mergeEvalShards(named(['1/2', '0/4', '1/4']), { bootstrap: 20 }))).toEqual(want);
  });

  it('keeps every number through a shard folder and through the queue encoding', () => {
    const dirs = ['0/3', '1/3', '2/3'].map((k) => {
      const dir = path.join(tempDir(), 'shard');
      writeShard(dir, shards.get(k)!);
      return dir;
    });
    expect(scoreOf(mergeEvalShardDirs([dirs[2]!, dirs[0]!, dirs[1]!], { bootstrap: 20 }))).toEqual(scoreOf(single));
    const s = shards.get('1/3')!;
    const back = decodeShard(JSON.parse(JSON.stringify(encodeShard(s))), 'job');
    expect(back.meta).toEqual(s.meta);
    expect(back.images.map((t) => Array.from(t.data))).toEqual(s.images.map((t) => Array.from(t.data)));
    expect(back.classified).toEqual(s.classified);
    expect(readShard(dirs[1]!).classified).toEqual(s.classified);
  });

  it('sums each row\'s seconds over the shards for the speed-ups', () => {
    const keys = ['0/2', '1/2'];
    const merged = mergeEvalShards(named(keys));
    for (const [r, row] of merged.rows.entries()) expect(row.seconds).toBeCloseTo(keys.reduce((a, k) => a + shards.get(k)!.meta.seconds[r]!, 0), 12);
    expect(merged.rows[1]!.speedup).toBe(merged.rows[0]!.seconds / merged.rows[1]!.seconds);
    expect(merged.notes.join('\n')).toMatch(/merged from 2 shards/);
  });

  it('refuses overlapping shards, naming both and the shared samples', () => {
    const e = shardError(() => mergeEvalShards(named(['0/2', '1/2', '1/4'])));
    expect(e.message).toMatch(/not one evaluation/);
    expect(e.message).toMatch(/shard 1\/4 \(samples 2–3\) and shard 1\/2 \(samples 4–6\)|shard 0\/2 \(samples 0–3\) and shard 1\/4 \(samples 2–3\) overlap in samples 2–3/);
  });

  it('refuses a gap, naming the missing samples and their neighbours', () => {
    const e = shardError(() => mergeEvalShards(named(['0/4', '2/4', '3/4'])));
    expect(e.message).toMatch(/samples 2–3 are in no shard \(a gap between shard 0\/4 \(samples 0–1\) and shard 2\/4 \(samples 4–5\)\)/);
    const end = shardError(() => mergeEvalShards(named(['0/2'])));
    expect(end.message).toMatch(/samples 4–6 are in no shard \(a gap after shard 0\/2/);
    const start = shardError(() => mergeEvalShards(named(['1/2'])));
    expect(start.message).toMatch(/samples 0–3 are in no shard \(a gap before shard 1\/2/);
  });

  it('refuses shards sampled with other weights or settings, naming each difference', async () => {
    const other = randomWeights(graphWeights(lowerModel(loadProgram(FMNIST), { model: MODEL, batch: 1 })), 12);
    const foreign = await runEvalShard(cfg({ weights: other, seed: 6 }), { index: 1, count: 2 });
    const e = shardError(() => mergeEvalShards([{ where: 'a', shard: shards.get('0/2')! }, { where: 'b', shard: foreign }]));
    expect(e.code).toBe('E_INPUT');
    expect(e.message).toMatch(/b was sampled with other settings than a/);
    expect(e.message).toMatch(/weights: a [0-9a-f]{12}…, b [0-9a-f]{12}…/);
    expect(e.message).toMatch(/seed: a 5, b 6/);
  });

  it('refuses shards whose plan differs (a schedule file edited between shards)', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'mine.ditto');
    const dit = path.join(path.dirname(FMNIST), 'dit.ditto');
    const write = (when: string) => writeFileSync(file, `use "${dit}"\nschedule mine for DiT {\n  blocks[*].attn, blocks[*].mlp reuse\n  blocks[*].attn, blocks[*].mlp compute at ${when}\n}\n`);
    write('i == S - 1');
    const a = await runEvalShard(cfg({ schedules: [file] }), { index: 0, count: 2 });
    write('i == S - 1 or i == 0');
    const b = await runEvalShard(cfg({ schedules: [file] }), { index: 1, count: 2 });
    const e = shardError(() => mergeEvalShards([{ where: 'a', shard: a }, { where: 'b', shard: b }]));
    expect(e.message).toMatch(/plan of row '.*mine\.ditto': a [0-9a-f]{12}…, b [0-9a-f]{12}…/);
  });

  it('refuses bad --shard values and more shards than batches', () => {
    for (const bad of ['4/4', '1', 'a/b', '0/0', '-1/3']) expect(() => parseShardSpec(bad)).toThrow(DittoError);
    expect(parseShardSpec(' 2 / 5 ')).toEqual({ index: 2, count: 5 });
    expect(() => shardBatches({ index: 0, count: 5 }, 7, 2)).toThrow(/4 batches, fewer than 5 shards/);
  });

  it('says which shard folder is missing or damaged', () => {
    const dir = tempDir();
    expect(() => mergeEvalShardDirs([path.join(dir, 'nope')])).toThrow(/shard folder .*nope' does not exist/);
    expect(() => mergeEvalShardDirs([dir])).toThrow(/holds no shard\.json/);
    const good = path.join(dir, 'good');
    writeShard(good, shards.get('0/1')!);
    writeFileSync(path.join(good, 'images-1.f32'), new Uint8Array(12));
    expect(() => mergeEvalShardDirs([good])).toThrow(/images of row 1 holds 12 bytes, expected/);
    writeFileSync(path.join(good, 'shard.json'), '{"format": "something"}');
    expect(() => mergeEvalShardDirs([good])).toThrow(/not an eval shard/);
  });
});
