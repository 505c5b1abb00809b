/**
 * The parts of plan assembly that sampling plans (build.ts) and forward plans (buildForward.ts)
 * share: the plan's identity hashes, the buffer table, the kernel table (one kernel per distinct
 * config), and the lookup from an IR value to the buffer that holds it. Kept in one place so both
 * plan kinds number buffers and kernels the same way.
 */
import { sha256 as sha256Bytes } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { invariant } from '../../core/errors.ts';
import { canonicalJson } from '../kernels/common.ts';
import type { Graph } from '../ir/graph.ts';
import type { Body, ValueInfo } from '../passes/ir.ts';
import { valueBytes } from '../passes/memory.ts';
import type { SelectedKernel } from './kernelSelect.ts';
import type { BufferKind, PlanBuffer, PlanKernel } from './types.ts';

export const DITTO_VERSION = '0.1.0';

export function sha256(text: string): string {
  // @noble/hashes rather than node:crypto: the compiler also runs in a web page (playground/).
  return bytesToHex(sha256Bytes(utf8ToBytes(text)));
}

export function graphHash(g: Graph): string {
  return sha256(canonicalJson({ model: g.model, params: g.params, batch: g.batch, nodes: g.nodes.map(({ span: _span, ...n }) => n), inputs: g.inputs, outputs: g.outputs, blocks: g.blocks }));
}

/** The plan's node list: id, op kind and source path of every graph node. */
export function planNodes(g: Graph): { id: number; op: string; path?: string }[] {
  return g.nodes.map((n) => ({ id: n.id, op: n.op.kind, ...(n.path !== undefined ? { path: n.path } : {}) }));
}

export interface BufferTable {
  buffers: PlanBuffer[];
  /** IR value name → buffer id, for values with a buffer of their own (not pooled transients). */
  byValue: Map<string, number>;
  /** Appends a buffer and returns its id (its index in `buffers`). */
  add(b: Omit<PlanBuffer, 'id'>): number;
  /**
   * Gives each used value whose storage `kindOf` names a buffer of that kind, in the order of
   * `values`; the buffer is named after the value with its IR prefix (matched by `prefix`) removed.
   */
  addValues(values: Iterable<ValueInfo>, used: ReadonlySet<string>, kindOf: Partial<Record<string, BufferKind>>, prefix: RegExp): void;
}

export function bufferTable(): BufferTable {
  const buffers: PlanBuffer[] = [];
  const byValue = new Map<string, number>();
  const add = (b: Omit<PlanBuffer, 'id'>): number => {
    buffers.push({ id: buffers.length, ...b });
    return buffers.length - 1;
  };
  const addValues: BufferTable['addValues'] = (values, used, kindOf, prefix) => {
    for (const v of values) {
      const kind = kindOf[v.storage];
      if (!kind || !used.has(v.name)) continue;
      byValue.set(v.name, add({
        name: v.name.replace(prefix, ''), kind, bytes: valueBytes(v), dtype: v.dtype, shape: [...v.shape],
        ...(v.sources ? { sources: v.sources } : {}), ...(v.derived ? { derived: v.derived } : {}),
      }));
    }
  };
  return { buffers, byValue, add, addValues };
}

export interface KernelTable {
  kernels: PlanKernel[];
  /** The id of the selected kernel, adding it on first use (kernels are keyed by their config key). */
  kernelOf(sel: SelectedKernel): number;
}

export function kernelTable(): KernelTable {
  const kernels: PlanKernel[] = [];
  const kernelIndex = new Map<string, number>();
  const kernelOf = (sel: SelectedKernel): number => {
    let k = kernelIndex.get(sel.kernel.key);
    if (k === undefined) {
      k = kernels.length;
      kernelIndex.set(sel.kernel.key, k);
      kernels.push({
        id: k, family: sel.family, key: sel.kernel.key, config: sel.config, wgsl: sel.kernel.wgsl, entryPoint: sel.kernel.entryPoint,
        workgroupSize: sel.kernel.workgroupSize, bindings: sel.kernel.bindings.map((b) => ({ name: b.name, access: b.access, elemType: b.elemType })),
      });
    }
    return k;
  };
  return { kernels, kernelOf };
}

/**
 * The buffer holding `value` inside `body`: a transient lives in the activation-pool buffer the
 * body's memory plan gave it (`pool` maps pool index → buffer id); any other value has its own.
 */
export function bufferOfValue(values: ReadonlyMap<string, ValueInfo>, byValue: ReadonlyMap<string, number>, pool: readonly number[], body: Body, value: string): number {
  const v = values.get(value)!;
  if (v.storage === 'transient') return pool[body.buffers![value]!]!;
  const id = byValue.get(value);
  invariant(id !== undefined, `no buffer for value ${value}`);
  return id;
}
