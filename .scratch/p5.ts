import { main } from '../cli/main.ts';
import { writeFileSync } from 'node:fs';
const pre = 'use "/work/wt/reliability/.scratch/../models/dit.ditto"\nschedule s for DiT {\n  steps 4\n  blocks[*].attn reuse at ';
const cases: Record<string,string> = {
  paren64: pre + '('.repeat(63) + 'always' + ')'.repeat(63) + '\n}',
  paren160: pre + '('.repeat(160) + 'always' + ')'.repeat(160) + '\n}',
  open10000: pre + '('.repeat(10000),
  minus1000: pre + 'i == ' + '-'.repeat(1000) + '1\n}',
  minus60: pre + 'i == ' + '-'.repeat(60) + '1\n}',
  not60: pre + 'not '.repeat(60) + 'always\n}',
  plus9000: pre + 'i == 1' + '+1'.repeat(9000) + '\n}',
  plus2e19: pre + 'i == 1' + '+1'.repeat(2**19) + '\n}',
  junk: '#'.repeat(2**20),
  cmt: '/*'.repeat(2**17),
  str: '"\\"'.repeat(2**16),
  mix: Array.from({length:2**18},(_, i)=> i%2? '#':'a').join(''),
};
for (const [k, s] of Object.entries(cases)) {
  writeFileSync(`/tmp/fz-${k}.ditto`, s);
  const t0 = performance.now();
  const orig = process.stderr.write.bind(process.stderr); let err = '';
  (process.stderr as any).write = (x: string) => { err += x; return true; };
  const rc = await main(['node', 'ditto', 'check', `/tmp/fz-${k}.ditto`]);
  (process.stderr as any).write = orig;
  console.log(k, rc, (performance.now()-t0).toFixed(0), 'ms', err.split('\n').slice(0,1).join(' ').slice(0,150));
}
