/**
 * Table generators: cache tables computed from a rule instead of read from a file. Each returns
 * codes indexed by the **count-down** step i (i = S−1 at the first, noisiest step), as the
 * FORA / EB-Cache code evaluates them; the schedule's `order` says how the table is consumed.
 * Codes: 0 compute both, 1 reuse attention, 2 reuse both, 3 reuse MLP.
 */

/** FORA: compute iff i == S−1 or i mod N == 0 (on the count-down i), else reuse both. */
export function foraTable(steps: number, n: number): number[] {
  return Array.from({ length: steps }, (_, i) => (i === steps - 1 || i % n === 0 ? 0 : 2));
}

/**
 * The EB-Cache legacy rule (docs/ebcache.md "The legacy rule and the table's orientation"), from the repository's old compiled
 * module: interval 3N when i > 0.8·S, 2N when 0.4·S < i ≤ 0.8·S, N otherwise; compute iff
 * i == S−1 or (S−1−i) mod interval == 0; full compute when i < 0.2·S.
 */
export function ebcacheLegacyTable(steps: number, n: number): number[] {
  return Array.from({ length: steps }, (_, i) => {
    const interval = i > 0.8 * steps ? 3 * n : i > 0.4 * steps ? 2 * n : n;
    if (i === steps - 1 || (steps - 1 - i) % interval === 0) return 0;
    return i < 0.2 * steps ? 0 : 2;
  });
}

export interface GeneratorSpec {
  readonly params: readonly { name: string; min: number; default?: number }[];
  readonly doc: string;
  generate(steps: number, args: Record<string, number>): number[];
}

export const GENERATORS: ReadonlyMap<string, GeneratorSpec> = new Map<string, GeneratorSpec>([
  ['fora', { params: [{ name: 'N', min: 1 }], doc: 'FORA interval rule on the count-down index', generate: (s, a) => foraTable(s, a.N!) }],
  [
    'ebcache_legacy',
    { params: [{ name: 'N', min: 1, default: 1 }], doc: 'EB-Cache legacy rule (intervals 3N/2N/N, full compute in the last 20%)', generate: (s, a) => ebcacheLegacyTable(s, a.N!) },
  ],
]);
