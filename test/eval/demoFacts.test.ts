/**
 * The demo's captions quote the Fashion-MNIST experiment: the figures in evaluation/eval/demo.ts must
 * be the ones in docs/experiment-fmnist/, and the "best measured" column must be the DDPM row with
 * the lowest FID among the schedules that cache.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DEMO_COLUMNS, DEMO_DEFAULTS, DEMO_EXPERIMENT } from '../../evaluation/eval/demo.ts';
import { ROOT } from './helpers.ts';

interface Row {
  name: string;
  fid: number;
  speedup: number;
  flopsRatio: number | null;
}
interface Report {
  sampler: string;
  steps: number;
  cfgScale: number;
  samples: number;
  rows: Row[];
}
const read = (dir: string) => JSON.parse(readFileSync(path.join(ROOT, 'docs/experiment-fmnist', dir, 'eval.json'), 'utf8')) as Report;

describe('the demo quotes the experiment', () => {
  const main = read('ddpm');
  const extra = read('ddpm-extra');
  const rows = [...main.rows, ...extra.rows.filter((r) => r.name !== 'no cache')];

  it('was run with the demo\'s sampler, steps, guidance and sample count', () => {
    for (const r of [main, extra]) {
      expect(r.sampler).toBe(DEMO_DEFAULTS.sampler);
      expect(r.steps).toBe(DEMO_DEFAULTS.steps);
      expect(r.cfgScale).toBe(DEMO_DEFAULTS.cfgScale);
      expect(r.samples).toBe(DEMO_EXPERIMENT.samples);
    }
    expect(DEMO_EXPERIMENT.source).toBe('docs/experiment-fmnist/ddpm/eval.json');
  });

  it('has the measured FID and speed-up of every column', () => {
    expect(main.rows[0]!.fid).toBeCloseTo(DEMO_EXPERIMENT.noCacheFid, 2);
    for (const c of DEMO_COLUMNS) {
      const row = rows.find((r) => r.name === c.schedule);
      expect(row, c.schedule).toBeDefined();
      expect(row!.fid, c.schedule).toBeCloseTo(c.measured!.fid, 2);
      expect(row!.speedup, c.schedule).toBeCloseTo(c.measured!.speedup, 2);
    }
  });

  it('shows EB-Cache as released first and the lowest-FID caching row last', () => {
    expect(DEMO_COLUMNS.map((c) => c.schedule)).toHaveLength(2);
    expect(DEMO_COLUMNS[0]!.schedule).toBe('ebcache_table');
    const caching = rows.filter((r) => r.name !== 'no cache' && r.speedup > 1.1);
    const best = caching.reduce((a, b) => (b.fid < a.fid ? b : a));
    expect(DEMO_COLUMNS[1]!.schedule).toBe(best.name);
  });
});
