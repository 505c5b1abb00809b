import { parseRaw } from '../grammar/parser.ts';
import { dittoLexer } from '../grammar/tokens.ts';
const pre = 'schedule s for DiT {\n  blocks[*].attn reuse at ';
for (const n of [2**14, 2**15, 2**16]) {
const s = pre + '1' + '+1'.repeat(n) + '\n}';
let t0 = performance.now(); const lx = dittoLexer.tokenize(s); const tl = performance.now()-t0;
t0 = performance.now(); const r = parseRaw(s); console.log(n, 'lex', tl.toFixed(0), 'lex+parse', (performance.now()-t0).toFixed(0), r.parseErrors.length);
}
