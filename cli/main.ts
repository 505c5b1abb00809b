/**
 * The `ditto` command line: a thin layer over the library. Each verb lives in cli/commands/<verb>.ts
 * and exports `register(program)`; actions throw DittoError for user errors and never call
 * process.exit themselves (main maps errors to exit codes, see cli/exit.ts).
 *
 * Verbs load lazily: a verb's module pulls in the compiler, the runtime or Dawn, which takes far
 * longer than starting Node, so only the verb being run is imported. Every other verb is a stub
 * carrying its name, usage term and description from VERBS — enough for `ditto --help`, `--version`
 * and commander's "did you mean" on a typo; test/cli/lazy.test.ts checks that each stub says what
 * its real command says.
 */
import { Command, CommanderError, Help } from 'commander';
import { EXIT_OK, EXIT_USER, reportError } from './exit.ts';
import { dittoVersion } from './version.ts';

export interface Verb {
  /** How `ditto --help` lists the verb: name, [options], arguments (commander's own term). */
  term: string;
  description: string;
  /** Imports the verb's module and returns its register function. */
  load: () => Promise<(program: Command) => void>;
}

export const VERBS: Record<string, Verb> = {
  info: {
    term: 'info [options]',
    description: 'show the WebGPU adapter, its features and limits, the Dawn toggles, and the versions of ditto, Node and Dawn',
    load: async () => (await import('./commands/info.ts')).registerInfo,
  },
  weights: {
    term: 'weights',
    description: 'inspect, convert and generate weight files (safetensors, PyTorch .pt)',
    load: async () => {
      const { registerWeights } = await import('./commands/weights.ts');
      return (program) => registerWeights(program);
    },
  },
  check: {
    term: 'check <files...>',
    description: 'check .ditto files (models and schedules): syntax, names, shapes and schedule rules',
    load: async () => (await import('./commands/check.ts')).registerCheck,
  },
  forward: {
    term: 'forward [options] <model-file>',
    description: 'run one forward pass of a model on named inputs and write every output tensor',
    load: async () => (await import('./commands/forward.ts')).registerForward,
  },
  run: {
    term: 'run [options] <plan>',
    description: 'execute a compiled plan on the GPU (or the CPU plan interpreter) and write images or latents',
    load: async () => (await import('./commands/run.ts')).registerRun,
  },
  fid: {
    term: 'fid [options] <images>',
    description: 'FID (Fashion-MNIST classifier features, against the test-set statistics) and class accuracy of generated images',
    load: async () => (await import('./commands/fid.ts')).registerFid,
  },
  calibrate: {
    term: 'calibrate [options] <model-file>',
    description: 'build an EB-Cache table schedule for a model by calibration (CPU reference executor), meeting a FLOPs budget',
    load: async () => (await import('./commands/calibrate.ts')).registerCalibrate,
  },
  fit: {
    term: 'fit [options] <method> <model-file>',
    description: "measure what TeaCache (its rescaling polynomial → a schedule file) or MagCache (its magnitude-ratio curve → JSON) needs for a model, from all-compute runs (CPU reference executor)",
    load: async () => (await import('./commands/fit.ts')).registerFit,
  },
  retime: {
    term: 'retime [options] <schedule> [model-file]',
    description: "map a schedule to another step count (each new step takes the actions of the nearest point of the trajectory; dynamic rules keep their thresholds and scale their step counts) and report its predicted speed-up",
    load: async () => (await import('./commands/retime.ts')).registerRetime,
  },
  eval: {
    term: 'eval [options] [model-file]',
    description: 'compare cache schedules with the no-cache baseline: FID, class accuracy, PSNR/SSIM, speed-up, image grids; --shard / --merge / --queue split it over machines',
    load: async () => (await import('./commands/eval.ts')).registerEval,
  },
  worker: {
    term: 'worker [options]',
    description: "sample the eval shards queued with `ditto eval --queue` on this machine's GPU, until stopped",
    load: async () => (await import('./commands/worker.ts')).registerWorker,
  },
  demo: {
    term: 'demo [options]',
    description: 'sample the built-in Fashion-MNIST DiT with no cache, EB-Cache as released and the best measured schedule; write demo.png side by side and print speed-ups, PSNR and the measured FID changes',
    load: async () => (await import('./commands/demo.ts')).registerDemo,
  },
  bench: {
    term: 'bench [options] [model-file]',
    description: 'benchmark cache schedules against the all-compute baseline (speed, fidelity, memory) and ditto against onnxruntime-node; writes report.md/.json and a plot',
    load: async () => (await import('./commands/bench.ts')).registerBench,
  },
  compile: {
    term: 'compile [options] <model-file>',
    description: 'compile a model and a cache schedule into a step-indexed plan (JSON)',
    load: async () => (await import('./commands/compile.ts')).registerCompile,
  },
  explain: {
    term: 'explain [options] <plan>',
    description: 'show per-step work, dispatches, FLOPs, memory and the predicted speed-up of a plan',
    load: async () => (await import('./commands/explain.ts')).registerExplain,
  },
  search: {
    term: 'search [options] <model-file>',
    description: 'search cache schedules under a speed budget: the Pareto front of speed (measured kernel times) against fidelity to no cache, and the chosen schedule as .ditto',
    load: async () => (await import('./commands/search.ts')).registerSearch,
  },
  tune: {
    term: 'tune [options] <plan>',
    description: 'time the candidate matmul kernels of a plan on this adapter and write the plan with the fastest',
    load: async () => (await import('./commands/tune.ts')).registerTune,
  },
};

/** The verbs whose modules this command line needs: the one it runs, or the one `help VERB` shows. */
export function verbsToLoad(argv: readonly string[]): string[] {
  const words = argv.slice(2).filter((a) => !a.startsWith('-'));
  const verb = words[0] === 'help' ? words[1] : words[0];
  return verb !== undefined && Object.hasOwn(VERBS, verb) ? [verb] : [];
}

/**
 * The program for `argv`: the verbs named in `load` (default: the one argv runs) registered for
 * real, every other verb as a stub. `load: 'all'` registers every verb for real.
 */
export async function buildProgram(argv: readonly string[] = [], load: readonly string[] | 'all' = verbsToLoad(argv)): Promise<Command> {
  const program = new Command('ditto')
    .description('Compile and run cache schedules of Diffusion Transformers on WebGPU')
    .version(dittoVersion(), '-V, --version')
    .option('--debug', 'show stack traces of errors')
    .showHelpAfterError('(run ditto --help for usage)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s), writeOut: (s) => process.stdout.write(s) });
  const real = new Set(load === 'all' ? Object.keys(VERBS) : load);
  const stubTerms = new Map<Command, string>();
  for (const [name, verb] of Object.entries(VERBS)) {
    if (real.has(name)) {
      (await verb.load())(program);
    } else {
      stubTerms.set(program.command(name).description(verb.description), verb.term);
    }
  }
  program.configureHelp({ subcommandTerm: (cmd) => stubTerms.get(cmd) ?? new Help().subcommandTerm(cmd) });
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
  try {
    const program = await buildProgram(argv);
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
