import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatCell, renderMarkdown, renderTable, writeReport, type Report } from '../../bench/report.ts';

const report: Report = {
  title: 'Kernels on llvmpipe',
  meta: { adapter: 'llvmpipe (LLVM 15.0.7, 256 bits)', runs: 5 },
  sections: [
    { title: 'Matmul', text: 'GFLOP/s per shape.', table: { columns: ['shape', 'ms', 'GFLOP/s'], rows: [['512×384|384', 14.96, 10.1], ['x', null, NaN]] } },
    { title: 'Plot', image: { file: 'plot.svg', alt: 'speed against fidelity' } },
  ],
  data: { samples: [1, 2, Infinity, NaN] },
};

describe('report', () => {
  it('formats numbers to a few significant digits', () => {
    expect(formatCell(1234.5678)).toBe('1235');
    expect(formatCell(14.96)).toBe('15.0');
    expect(formatCell(1.2345)).toBe('1.23');
    expect(formatCell(0.012345)).toBe('0.012');
    expect(formatCell(12)).toBe('12');
    expect(formatCell(Infinity)).toBe('∞');
    expect(formatCell(null)).toBe('—');
  });

  it('renders tables with escaped pipes and checks row widths', () => {
    const t = renderTable(report.sections[0]!.table!);
    expect(t.split('\n')).toEqual(['| shape | ms | GFLOP/s |', '| --- | ---: | ---: |', '| 512×384\\|384 | 15.0 | 10.1 |', '| x | — | — |']);
    expect(() => renderTable({ columns: ['a', 'b'], rows: [[1]] })).toThrow(/1 cells for 2 columns/);
  });

  it('writes report.md and report.json with the same content', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ditto-report-'));
    const { md, json } = writeReport(dir, report);
    const text = readFileSync(md, 'utf8');
    expect(text).toBe(renderMarkdown(report));
    expect(text).toContain('# Kernels on llvmpipe');
    expect(text).toContain('- **adapter**: llvmpipe (LLVM 15.0.7, 256 bits)');
    expect(text).toContain('![speed against fidelity](plot.svg)');
    const back = JSON.parse(readFileSync(json, 'utf8'));
    expect(back.title).toBe(report.title);
    expect(back.sections[0].table.rows[0]).toEqual(['512×384|384', 14.96, 10.1]);
    expect(back.data.samples).toEqual([1, 2, 'Infinity', null]);
  });

  it('reports an unwritable directory as E_IO', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ditto-report-')), 'a-file');
    writeFileSync(file, 'not a directory');
    expect(() => writeReport(join(file, 'sub'), report)).toThrow(expect.objectContaining({ code: 'E_IO' }));
  });
});

describe('paths in committed reports', () => {
  it('name files inside the repository relative to it, and leave other paths as the user gave them', async () => {
    const { repoRelative } = await import('../../bench/peer/dittoVsOrt.ts');
    const { REPO_ROOT } = await import('../../bench/peer/ort.ts');
    expect(repoRelative(join(REPO_ROOT, 'bench', 'work', 'dit-s2-random.safetensors'))).toBe(join('bench', 'work', 'dit-s2-random.safetensors'));
    expect(repoRelative('/elsewhere/weights.safetensors')).toBe('/elsewhere/weights.safetensors');
    expect(repoRelative(join(REPO_ROOT, '..', 'sibling.safetensors'))).toBe(join(REPO_ROOT, '..', 'sibling.safetensors'));
  });
});
