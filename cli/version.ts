import { packageVersion } from '../core/packageRoot.ts';

export function dittoVersion(): string {
  return packageVersion();
}
