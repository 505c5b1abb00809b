import { caseSeed, Rng } from '../tools/fuzz/harness.ts';
import { generateSource } from '../tools/fuzz/sources.ts';
import { checkSources } from '../compiler/frontend.ts';
import { writeFileSync } from 'node:fs';
const i = Number(process.argv[2]);
const kind = process.argv[3] as 'mutation';
const { file, text } = generateSource(new Rng(caseSeed(16, `source:${kind}`, i)), kind);
writeFileSync('/tmp/rel/case.ditto', text);
console.log(file, text.length);
for (let k = 0; k < 2; k++) {
const t0 = performance.now(); const r = checkSources([file], { inline: new Map([[file, text]]) }); console.log('check', (performance.now()-t0).toFixed(0), r.diagnostics.length, r.diagnostics[0]?.message.slice(0, 100));
}
