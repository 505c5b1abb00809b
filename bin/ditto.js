#!/usr/bin/env node
// The `ditto` command. Sources are TypeScript run through tsx (no build step): see docs/development.md.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv);
