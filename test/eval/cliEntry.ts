/**
 * The `ditto` process for the eval/demo tests: cli/main.ts's program, with the eval and demo verbs
 * added if main.ts does not register them yet, and main's error-to-exit-code mapping. Spawned with
 * tsx exactly like bin/ditto.js.
 */
import { CommanderError } from 'commander';
import { buildProgram } from '../../cli/main.ts';
import { EXIT_OK, EXIT_USER, reportError } from '../../cli/exit.ts';
import { registerEval } from '../../cli/commands/eval.ts';
import { registerDemo } from '../../cli/commands/demo.ts';

const program = buildProgram();
const has = (name: string) => program.commands.some((c) => c.name() === name);
if (!has('eval')) registerEval(program);
if (!has('demo')) registerDemo(program);
for (const c of program.commands) c.exitOverride();
try {
  await program.parseAsync(process.argv);
  process.exitCode = EXIT_OK;
} catch (e) {
  if (e instanceof CommanderError) process.exitCode = e.exitCode === 0 ? EXIT_OK : EXIT_USER;
  else process.exitCode = reportError(e, process.argv.includes('--debug'), (s) => process.stderr.write(s));
}
