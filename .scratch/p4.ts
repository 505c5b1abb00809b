import { dittoLexer } from '../grammar/tokens.ts';
import { readFileSync } from 'node:fs';
for (const f of process.argv.slice(2)) console.log(f, dittoLexer.tokenize(readFileSync(f,'utf8')).tokens.length);
