#!/usr/bin/env node
// The `ditto` command. An installed package runs the compiled JavaScript in dist/. A checkout (it has
// cli/main.ts) runs the TypeScript sources through tsx, so that the tests and `npm run demo` always
// run the code as it is now, never a stale build; DITTO_CLI=dist runs the build there instead
// (`npm run build` first). See docs/development.md.
import { existsSync } from 'node:fs';

const root = new URL('../', import.meta.url);
const checkout = existsSync(new URL('cli/main.ts', root));
let main;
if (checkout && process.env.DITTO_CLI !== 'dist') {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../cli/main.ts'));
} else if (existsSync(new URL('dist/cli/main.js', root))) {
  ({ main } = await import('../dist/cli/main.js'));
} else {
  process.stderr.write('error: ditto is not built (no dist/cli/main.js); run `npm run build` in its folder\n');
  process.exit(1);
}
process.exitCode = await main(process.argv);
