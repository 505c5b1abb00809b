/**
 * `npm run size`: lines of TypeScript per layer, the product path (what `ditto` runs: core →
 * grammar → compiler → runtime, evaluation, the drivers, the CLI, the Node API and the playground) apart from the tools around it
 * (benchmarks, tools/, tests). Counts all lines and code lines (no blanks, no comment-only lines),
 * and names every file over 600 lines. Printed by .ci/run.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PRODUCT = ['core', 'grammar', 'compiler', 'runtime', 'evaluation', 'drivers', 'cli', 'index.ts', 'playground'];
const AROUND = ['bench', 'tools', 'test'];
const LONG = 600;

function files(rel: string): string[] {
  const abs = path.join(ROOT, rel);
  let st;
  try {
    st = statSync(abs);
  } catch {
    return [];
  }
  if (st.isFile()) return rel.endsWith('.ts') ? [rel] : [];
  return readdirSync(abs).flatMap((n) => (n === 'node_modules' || n.startsWith('.') || n === 'results' ? [] : files(`${rel}/${n}`)));
}

/** All lines, and lines that hold code (not blank, not only a comment). */
export function countLines(text: string): { lines: number; code: number } {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  let code = 0;
  let inBlock = false;
  for (const raw of lines) {
    const l = raw.trim();
    if (inBlock) {
      if (l.includes('*/')) inBlock = false;
      continue;
    }
    if (l === '' || l.startsWith('//')) continue;
    if (l.startsWith('/*')) {
      if (!l.includes('*/')) inBlock = true;
      continue;
    }
    code++;
  }
  return { lines: lines.length, code };
}

function row(name: string, fs: string[]): { name: string; files: number; lines: number; code: number; long: string[] } {
  let lines = 0;
  let code = 0;
  const long: string[] = [];
  for (const f of fs) {
    const c = countLines(readFileSync(path.join(ROOT, f), 'utf8'));
    lines += c.lines;
    code += c.code;
    if (c.lines > LONG) long.push(`${f} (${c.lines})`);
  }
  return { name, files: fs.length, lines, code, long };
}

function table(title: string, layers: string[]): { lines: number; code: number } {
  const rows = layers.map((l) => row(l, files(l)));
  const total = rows.reduce((t, r) => ({ lines: t.lines + r.lines, code: t.code + r.code }), { lines: 0, code: 0 });
  console.log(`${title}: ${total.lines} lines, ${total.code} code`);
  for (const r of rows) console.log(`  ${r.name.padEnd(10)} ${String(r.files).padStart(4)} files ${String(r.lines).padStart(7)} lines ${String(r.code).padStart(7)} code${r.long.length ? `   over ${LONG}: ${r.long.join(', ')}` : ''}`);
  return total;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  table('product path', PRODUCT);
  table('around it', AROUND);
}
