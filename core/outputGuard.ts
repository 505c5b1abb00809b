/**
 * No verb ever writes over one of its inputs. Every verb names its outputs and its inputs and calls
 * refuseOverwrite before any work: an output that is an input — the same path, the same file
 * through a symbolic link or a `..`, or a hard link to it (same device and inode) — is a usage
 * error naming both flags. Two outputs that are the same file are refused the same way (the second
 * write would replace the first). Directory outputs (eval, bench) name the files they write there.
 */
import { realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { DittoError } from './errors.ts';

/** A file a verb reads or writes, with the flag or argument that named it (for the message). */
export interface NamedPath {
  /** `-o`, `--weights`, `the model file`, … */
  readonly label: string;
  /** Absent or empty: the flag was not given (skipped). */
  readonly file: string | undefined;
}

/** A directory a verb writes files into; `writes(name)` says whether it writes a file of that name. */
export interface OutputDir {
  readonly label: string;
  readonly dir: string | undefined;
  readonly writes: (basename: string) => boolean;
}

/** The path with every link resolved; for a file that does not exist yet, its directory's. */
export function canonicalPath(file: string): string {
  const abs = path.resolve(file);
  try {
    return realpathSync(abs);
  } catch {
    // Not there (yet): resolve the nearest existing ancestor and keep the rest as written.
    const parent = path.dirname(abs);
    if (parent === abs) return abs;
    return path.join(canonicalPath(parent), path.basename(abs));
  }
}

/** Device and inode of an existing file, so hard links compare equal; undefined when absent. */
function identity(file: string): string | undefined {
  try {
    const s = statSync(file);
    return `${s.dev}:${s.ino}`;
  } catch {
    return undefined;
  }
}

function sameFile(a: string, b: string): boolean {
  if (canonicalPath(a) === canonicalPath(b)) return true;
  const ia = identity(a);
  return ia !== undefined && ia === identity(b);
}

function given(p: NamedPath): p is { label: string; file: string } {
  return typeof p.file === 'string' && p.file !== '';
}

function describe(p: { label: string; file: string }): string {
  return `${p.label} '${p.file}'`;
}

/**
 * Throws E_USAGE when an output is an input or another output. Cheap (a few stats), so verbs
 * call it first, before reading anything large.
 */
export function refuseOverwrite(outputs: readonly NamedPath[], inputs: readonly NamedPath[], dirs: readonly OutputDir[] = []): void {
  const outs = outputs.filter(given);
  const ins = inputs.filter(given);
  for (const [i, out] of outs.entries()) {
    for (const input of ins) {
      if (sameFile(out.file, input.file)) {
        throw new DittoError('E_USAGE', `${describe(out)} is the same file as ${describe(input)}: ditto never writes over an input; name another output file`);
      }
    }
    for (const other of outs.slice(i + 1)) {
      if (sameFile(out.file, other.file)) {
        throw new DittoError('E_USAGE', `${describe(out)} and ${describe(other)} are the same file: the second would overwrite the first; name two different files`);
      }
    }
  }
  for (const d of dirs) {
    if (!d.dir) continue;
    const dir = canonicalPath(d.dir);
    for (const input of ins) {
      const inDir = canonicalPath(path.dirname(canonicalPath(input.file)));
      if (inDir === dir && d.writes(path.basename(canonicalPath(input.file)))) {
        throw new DittoError('E_USAGE', `${d.label} '${d.dir}' would overwrite ${describe(input)}: ditto never writes over an input; choose another directory`);
      }
    }
  }
}
