/**
 * Node built-ins the page never calls (zlib for PyTorch .pt weights, …): importing them is fine,
 * calling them is a clear error instead of a missing-function TypeError.
 */
import { DittoError } from '../../core/errors.ts';

function unsupported(name: string): never {
  throw new DittoError('E_USAGE', `${name} is not available in the browser playground`);
}
export const inflateRawSync = (): never => unsupported('inflating zip archives (PyTorch .pt weights)');
export const tmpdir = (): string => '/tmp';
export const endianness = (): string => 'LE';
export const createRequire = (): never => unsupported('require()');
export default { inflateRawSync, tmpdir, endianness, createRequire };
