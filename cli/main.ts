/**
 * The `ditto` command line: a thin layer over the library. Each verb lives in cli/commands/<verb>.ts
 * and exports `register(program)`; actions throw DittoError for user errors and never call
 * process.exit themselves (main maps errors to exit codes, see cli/exit.ts).
 */
import { Command, CommanderError } from 'commander';
import { EXIT_OK, EXIT_USER, reportError } from './exit.ts';
import { registerInfo } from './commands/info.ts';
import { registerWeights } from './commands/weights.ts';
import { registerForward } from './commands/forward.ts';
import { registerRun } from './commands/run.ts';
import { registerFid } from './commands/fid.ts';
import { registerCalibrate } from './commands/calibrate.ts';
import { registerEval } from './commands/eval.ts';
import { registerWorker } from './commands/worker.ts';
import { registerDemo } from './commands/demo.ts';
import { registerBench } from './commands/bench.ts';
import { registerCheck } from './commands/check.ts';
import { registerCompile } from './commands/compile.ts';
import { registerExplain } from './commands/explain.ts';
import { dittoVersion } from './version.ts';

export function buildProgram(): Command {
  const program = new Command('ditto')
    .description('Compile and run cache schedules of Diffusion Transformers on WebGPU')
    .version(dittoVersion(), '-V, --version')
    .option('--debug', 'show stack traces of errors')
    .showHelpAfterError('(run ditto --help for usage)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s), writeOut: (s) => process.stdout.write(s) });
  registerInfo(program);
  registerWeights(program);
  registerCheck(program);
  registerForward(program);
  registerRun(program);
  registerFid(program);
  registerCalibrate(program);
  registerEval(program);
  registerWorker(program);
  registerDemo(program);
  registerBench(program);
  registerCompile(program);
  registerExplain(program);
  // Hidden: lets the tests check the exit-code contract for internal errors on the real process.
  program
    .command('internal-error-selftest', { hidden: true })
    .action(() => {
      throw new Error('deliberate internal error for the exit-code test');
    });
  for (const c of program.commands) c.exitOverride();
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const debug = argv.includes('--debug');
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return EXIT_OK;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version exit through here with code 0; usage errors were already printed.
      return e.exitCode === 0 ? EXIT_OK : EXIT_USER;
    }
    return reportError(e, debug, (s) => process.stderr.write(s));
  }
}
