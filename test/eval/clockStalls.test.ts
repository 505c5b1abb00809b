/**
 * A batch whose wall clock ran while the process was stopped is named in the report's notes: the
 * detector over random batch times, and `ditto eval --resume` over a saved batch whose time was
 * inflated the way a paused process inflates it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { clockStallNotes, STALL_FACTOR, STALL_MIN_BATCHES } from '../../evaluation/eval/clockStalls.ts';
import { runEval } from '../../evaluation/eval/evaluate.ts';
import { PROGRESS_DIR } from '../../evaluation/eval/progressStore.ts';
import { tempDir, tinyConfig } from './helpers.ts';

const steady = fc.array(fc.double({ min: 20, max: 40, noNaN: true }), { minLength: STALL_MIN_BATCHES, maxLength: 40 });

describe('clock stalls', () => {
  it('names every batch far above its row\'s median, and nothing in a steady row', () => {
    fc.assert(
      fc.property(steady, fc.nat(), fc.double({ min: 2.1, max: 50, noNaN: true }), (times, at, factor) => {
        expect(clockStallNotes([{ name: 'no cache', batches: times }])).toEqual([]);
        const j = at % times.length;
        // 40 × the largest steady time is far above STALL_FACTOR × any median of the rest.
        const stalled = times.map((t, i) => (i === j ? 40 * factor * 40 : t));
        const notes = clockStallNotes([{ name: 'no cache', batches: stalled }, { name: 'fora', batches: times }]);
        expect(notes).toHaveLength(1);
        expect(notes[0]).toMatch(new RegExp(`^no cache: batch ${j} took \\d+ s against a median of [\\d.]+ s per batch`));
      }),
      { numRuns: 200, seed: 20261203 },
    );
  });

  it('judges only with enough known times: too few batches, or times a progress file did not keep', () => {
    expect(STALL_FACTOR).toBeGreaterThan(1);
    const few = Array.from({ length: STALL_MIN_BATCHES - 1 }, () => 30);
    expect(clockStallNotes([{ name: 'r', batches: [...few.slice(1), 3000] }])).toEqual([]);
    expect(clockStallNotes([{ name: 'r', batches: [undefined, undefined, undefined, 30, 30, 3000] }])).toEqual([]); // 3 known
    expect(clockStallNotes([{ name: 'r', batches: [undefined, 30, 30, 30, 30, 3000] }])[0]).toMatch(/^r: batch 5 took 3000 s/);
  });

  it('eval --resume names a saved batch whose clock counts a pause, and keeps the batch times it resumes', async () => {
    const dir = tempDir();
    const cfg = tinyConfig({ schedules: ['fora(N=2)'], steps: 2, samples: 10, resumeDir: dir });
    await runEval(cfg);
    const file = path.join(dir, PROGRESS_DIR, 'progress.json');
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { batches: number; seconds: number[]; batchSeconds: number[][] };
    expect(saved.batchSeconds.map((r) => r.length)).toEqual([saved.batches, saved.batches]);
    expect(saved.batchSeconds.flat().every((t) => t > 0)).toBe(true);
    // Steady saved times (the real ones depend on how busy the machine was), then the no-cache
    // row's batch 0 as if the process had been stopped for 18 minutes inside it. Every batch is
    // saved, so the resumed run samples nothing and judges exactly these times.
    saved.batchSeconds = saved.batchSeconds.map((r) => r.map(() => 1));
    saved.batchSeconds[0]![0]! += 1080;
    saved.seconds = saved.batchSeconds.map((r) => r.reduce((a, b) => a + b, 0));
    writeFileSync(file, JSON.stringify(saved));
    const again = await runEval(cfg);
    expect(again.notes.join('\n')).toMatch(/no cache: batch 0 took 1081 s against a median of 1\.0 s per batch — the clock ran while the process was stopped or starved/);
    expect(again.notes.join('\n')).not.toMatch(/fora\(N=2\): batch/);
  });
});
