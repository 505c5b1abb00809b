/** Checks a loaded weight set against what a model reads, reporting every problem at once. */
import { DittoError } from '../../core/errors.ts';
import { sameShape, shapeString } from '../../core/tensor.ts';
import type { WeightRef } from '../../compiler/ir/graph.ts';
import type { WeightSet } from './types.ts';

/** How many problems of each kind are listed before "… and N more". */
const LIST_LIMIT = 40;

/**
 * Throws one DittoError(E_WEIGHTS) listing every missing, unexpected and mis-shaped tensor (both
 * shapes). Optional weights (derived ones such as `pos_embed`) may be absent, but must have the
 * right shape when present.
 */
export function validateWeights(ws: WeightSet, expected: readonly WeightRef[]): void {
  const want = new Map(expected.map((w) => [w.name, w]));
  const missing: string[] = [];
  const misShaped: string[] = [];
  const wrongType: string[] = [];
  for (const w of expected) {
    const t = ws.tensors.get(w.name);
    if (!t) {
      if (!w.optional) missing.push(`${w.name} ${shapeString(w.shape)}`);
      continue;
    }
    if (!sameShape(t.shape, w.shape)) misShaped.push(`${w.name}: the model expects ${shapeString(w.shape)}, the file has ${shapeString(t.shape)}`);
    else if (t.dtype !== 'f32') wrongType.push(`${w.name}: the model expects floating-point values, the file has integers`);
  }
  const unexpected = [...ws.tensors.entries()].filter(([n]) => !want.has(n)).map(([n, t]) => `${n} ${shapeString(t.shape)}`);
  if (missing.length + misShaped.length + unexpected.length + wrongType.length === 0) return;

  const section = (title: string, items: string[]) =>
    items.length === 0
      ? []
      : [`${title} (${items.length}):`, ...items.slice(0, LIST_LIMIT).map((s) => `  ${s}`), ...(items.length > LIST_LIMIT ? [`  … and ${items.length - LIST_LIMIT} more`] : [])];
  const counts = [
    missing.length && `${missing.length} missing`,
    unexpected.length && `${unexpected.length} unexpected`,
    misShaped.length && `${misShaped.length} mis-shaped`,
    wrongType.length && `${wrongType.length} of the wrong type`,
  ].filter(Boolean);
  const lines = [
    `weights '${ws.path}' do not match the model: ${counts.join(', ')}`,
    ...section('missing tensors', missing),
    ...section('unexpected tensors', unexpected),
    ...section('mis-shaped tensors', misShaped),
    ...section('tensors of the wrong type', wrongType),
  ];
  throw new DittoError('E_WEIGHTS', lines.join('\n'));
}
