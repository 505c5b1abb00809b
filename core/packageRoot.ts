/**
 * Where ditto's own files (models/, the shipped schedules, weights, the FID classifier) are. The
 * code runs from two places — its TypeScript sources in a checkout, and the compiled JavaScript in
 * dist/ of a checkout or of an installed package — so a path relative to a module would differ
 * between them; the package root (the nearest folder above this module holding ditto's
 * package.json) is the same in both.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (existsSync(file) && (JSON.parse(readFileSync(file, 'utf8')) as { name?: string }).name === 'ditto') return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json of ditto above ${start}`);
  }
}

/** The folder holding ditto's package.json. */
export const PACKAGE_ROOT = findPackageRoot(path.dirname(fileURLToPath(import.meta.url)));

/** A path inside the package, e.g. packagePath('models', 'dit.ditto'). */
export function packagePath(...segments: string[]): string {
  return path.join(PACKAGE_ROOT, ...segments);
}

/** ditto's version, from its package.json. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(packagePath('package.json'), 'utf8')) as { version: string }).version;
}
