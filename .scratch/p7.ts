import { caseSeed, Rng } from '../tools/fuzz/harness.ts';
import { generateSource } from '../tools/fuzz/sources.ts';
import { parseSource } from '../grammar/parse.ts';
import { checkSources } from '../compiler/frontend.ts';
const i = Number(process.argv[2]);
const { file, text } = generateSource(new Rng(caseSeed(16, 'source:long-line', i)), 'long-line');
console.log(text.length, JSON.stringify(text.slice(60, 100)));
let t0 = performance.now(); const r = parseSource(file, text); console.log('parse', (performance.now()-t0).toFixed(0), r.diagnostics[0]?.message);
t0 = performance.now(); checkSources([file], { inline: new Map([[file, text]]) }); console.log('check', (performance.now()-t0).toFixed(0));
