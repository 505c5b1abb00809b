import { Lexer, createToken } from 'chevrotain';
import { allTokens } from '../grammar/tokens.ts';
const Junk = createToken({ name: 'Junk', pattern: /[^A-Za-z0-9_ \t\r\n"/(){}\[\],:.@=<>+\-*%]+|!|"/ });
const fast = new Lexer(allTokens, { positionTracking: 'full', ensureOptimizations: true });
const slow = new Lexer(allTokens, { positionTracking: 'full', ensureOptimizations: false });
const pre = 'schedule s for DiT {\n  blocks[*].attn reuse at ';
const cases: Record<string,string> = { plus: pre + '1' + '+1'.repeat(2**16), junk: '#'.repeat(2**20), mix: Array.from({length:2**18},(_, i)=> i%2? '#':'a').join('') };
for (const [k, s] of Object.entries(cases)) for (const [n, L] of [['fast', fast], ['slow', slow]] as const) {
  const t0 = performance.now(); const r = L.tokenize(s); console.log(k, n, (performance.now()-t0).toFixed(0), r.tokens.length, r.errors.length);
}
