import { lex, parseTokens } from '../grammar/parser.ts';
for (const n of [2**12, 2**13, 2**14]) {
const text = 'use "../dit.ditto"\nschedule s for DiT {\n  steps 4\n  blocks[*].attn reuse at i == ' + '/*'.repeat(n);
const r = lex(text, 20);
const t0 = performance.now(); const p = parseTokens(r.tokens); console.log(n, r.tokens.length, 'parse', (performance.now()-t0).toFixed(0), p.errors.length);
}
