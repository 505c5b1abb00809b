/** `ditto check FILE...`: parse and check .ditto files; prints `ok` or the diagnostics. */
import type { Command } from 'commander';
import { DittoError } from '../../core/errors.ts';
import { checkFiles } from '../../compiler/frontend.ts';

export function registerCheck(program: Command): void {
  program
    .command('check')
    .description('check .ditto files (models and schedules): syntax, names, shapes and schedule rules')
    .argument('<files...>', '.ditto files to check (their `use` imports are checked too)')
    .action((files: string[]) => {
      const { diagnostics, rendered } = checkFiles(files);
      const errors = diagnostics.filter((d) => d.severity === 'error');
      if (errors.length > 0) {
        throw new DittoError('E_CHECK', `${files.join(', ')}: ${errors.length} error${errors.length === 1 ? '' : 's'}`, errors[0]!.span, rendered);
      }
      if (rendered) process.stdout.write(rendered);
      process.stdout.write('ok\n');
    });
}
