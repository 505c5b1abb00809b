import { lex } from '../grammar/parser.ts';
import { blockCommentAt } from '../grammar/scanners.ts';
const text = 'x == ' + '/*'.repeat(2**14);
let t0 = performance.now(); const r = lex(text, 20); console.log('lex', (performance.now()-t0).toFixed(0), r.tokens.length, r.junk.length);
let calls = 0; t0 = performance.now();
for (let i = 0; i < text.length; i++) if (blockCommentAt(text, i)) calls++;
console.log('scan', (performance.now()-t0).toFixed(0), calls);
