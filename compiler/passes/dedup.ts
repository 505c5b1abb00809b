/**
 * Pass `dedup`: identical step bodies are stored once. The lowering already shares a body between
 * steps with equal node states and cache work; this pass compares the finished bodies (after fusion
 * and memory planning) and merges any that came out the same, renumbering the step → body table in
 * first-use order.
 */
import type { Body } from './ir.ts';

export function dedupBodies(bodies: Body[], stepBody: number[]): { bodies: Body[]; stepBody: number[] } {
  const byText = new Map<string, number>();
  const out: Body[] = [];
  const remap = new Map<number, number>();
  const table = stepBody.map((b) => {
    let r = remap.get(b);
    if (r === undefined) {
      const text = JSON.stringify(bodies[b]);
      r = byText.get(text);
      if (r === undefined) {
        r = out.length;
        out.push(bodies[b]!);
        byText.set(text, r);
      }
      remap.set(b, r);
    }
    return r;
  });
  return { bodies: out, stepBody: table };
}
