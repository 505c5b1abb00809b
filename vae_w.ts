import { Command } from 'commander';
import { registerWeights } from './cli/commands/weights.ts';
const p = new Command();
p.exitOverride();
registerWeights(p);
await p.parseAsync(['node', 'ditto', ...process.argv.slice(2)]);
