import { parseSource } from '../grammar/parse.ts';
function t(name: string, s: string) {
  const t0 = performance.now();
  try { const r = parseSource('x.ditto', s); console.log(name, (performance.now()-t0).toFixed(0), 'ms', r.diagnostics.length, r.diagnostics[0]?.message.slice(0,80)); }
  catch (e) { console.log(name, 'THROW', (e as Error).message.slice(0,80), (performance.now()-t0).toFixed(0)); }
}
const pre = 'schedule s for DiT {\n  blocks[*].attn reuse at ';
t('paren60', pre + '('.repeat(60) + 'always' + ')'.repeat(60) + '\n}');
t('paren100', pre + '('.repeat(100) + 'always' + ')'.repeat(100) + '\n}');
t('paren160', pre + '('.repeat(160) + 'always' + ')'.repeat(160) + '\n}');
t('open10000', pre + '('.repeat(10000));
t('minus1000', pre + '-'.repeat(1000) + '1\n}');
t('not1000', pre + 'not '.repeat(1000) + 'always\n}');
t('plus2^16', pre + '1' + '+1'.repeat(2**16) + '\n}');
t('plus2^17', pre + '1' + '+1'.repeat(2**17) + '\n}');
t('plus2^19', pre + '1' + '+1'.repeat(2**19) + '\n}');
t('junk2^18', '#'.repeat(2**18));
t('junk2^20', '#'.repeat(2**20));
t('junkmix2^20', Array.from({length:2**20},(_, i)=> i%2? '#':'a').join(''));
