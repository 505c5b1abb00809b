/** The shared shapes of the weight readers: a file's tensors as lazy records, and a loaded set. */
import type { Tensor } from '../../core/tensor.ts';
import type { FileDType } from './dtypes.ts';

export type WeightFormat = 'safetensors' | 'pytorch';

/** One tensor of a file, known from its header alone; `load()` reads and converts its data. */
export interface TensorRecord {
  readonly name: string;
  readonly shape: readonly number[];
  /** The element type stored in the file (before conversion to f32 / i32). */
  readonly dtype: FileDType;
  load(): Tensor;
}

/** A weight file opened and its header (or pickle) parsed, data not yet read. */
export interface WeightFile {
  readonly format: WeightFormat;
  readonly path: string;
  readonly records: readonly TensorRecord[];
  /** safetensors `__metadata__`; for .pt, which wrapper key the state dict came from. */
  readonly metadata: Readonly<Record<string, string>>;
  close(): void;
}

export interface WeightSet {
  tensors: Map<string, Tensor>;
  format: WeightFormat;
  path: string;
}
