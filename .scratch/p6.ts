import { parseSource } from '../grammar/parse.ts';
for (const unit of ['model M { let = 1 }\n', 'use 1\n', 'schedule s for DiT { steps }\n', 'model M { x = ) }\n']) {
  const r = parseSource('j.ditto', unit.repeat(1500));
  console.log(JSON.stringify(unit), r.diagnostics.length);
}
