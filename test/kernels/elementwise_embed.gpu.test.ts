/**
 * Elementwise kernels from random expression trees over random strided/broadcast views, and the
 * embedding kernels (timestep, label, unpatchify, pos add), on the GPU vs the JS reference.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { gpuOrSkip } from '../helpers/gpu.ts';
import {
  capsFromReport, emitElementwise, emitLabelEmbed, emitTimestepEmbed, emitUnpatchify, ex, posAddProblem, selectElementwise,
  selectLabelEmbed, selectTimestepEmbed, selectUnpatchify, type Expr, type TensorView,
} from '../../compiler/kernels/index.ts';
import { runKernel, type HostArray } from '../../runtime/kernelRunner.ts';
import { coordsOf, evalExpr, randomArray, rngFrom, timestepRef, unpatchifyRef, viewIndex } from './reference.ts';

const gpu = await gpuOrSkip();

const INPUTS = 3;
const UNIFORMS = 2;

/** Expression trees whose values stay finite and well-conditioned (denominators, log/sqrt arguments positive; pow of a base in (0, 1) to an exponent in (0, 2)). */
const exprArb: fc.Arbitrary<Expr> = fc.letrec<{ e: Expr }>((tie) => ({
  e: fc.oneof(
    { depthSize: 'medium', withCrossShrink: true },
    fc.integer({ min: 0, max: INPUTS - 1 }).map(ex.input),
    fc.double({ min: -2, max: 2, noNaN: true }).map(ex.c),
    fc.integer({ min: 0, max: UNIFORMS - 1 }).map(ex.u),
    fc.tuple(fc.constantFrom('neg', 'silu', 'gelu_tanh', 'exp', 'sqrt', 'log'), tie('e')).map(([op, a]): Expr => {
      if (op === 'sqrt') return ex.sqrt(ex.exp(a));
      if (op === 'log') return ex.log(ex.add(ex.c(1), ex.exp(a)));
      return { op, a } as Expr;
    }),
    fc.tuple(fc.constantFrom('add', 'sub', 'mul', 'div', 'min', 'max', 'pow'), tie('e'), tie('e')).map(([op, a, b]): Expr =>
      op === 'div' ? ex.div(a, ex.add(ex.c(0.5), ex.exp(b))) : op === 'pow' ? ex.pow(ex.div(ex.c(1), ex.add(ex.c(1), ex.exp(a))), ex.div(ex.c(2), ex.add(ex.c(1), ex.exp(b)))) : ({ op, a, b } as Expr)),
  ),
})).e;

function depth(e: Expr): number {
  return 'b' in e ? 1 + Math.max(depth(e.a), depth(e.b)) : 'a' in e ? 1 + depth(e.a) : 0;
}

const caseArb = fc.record({
  shape: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 3 }),
  inputViews: fc.array(fc.record({ broadcastMask: fc.integer({ min: 0, max: 7 }), offset: fc.integer({ min: 0, max: 3 }) }), { minLength: INPUTS, maxLength: INPUTS }),
  outOffset: fc.integer({ min: 0, max: 3 }),
  outPad: fc.integer({ min: 0, max: 2 }),
  expr: exprArb.filter((e) => depth(e) <= 5),
  inPlace: fc.boolean(),
  seed: fc.integer(),
});

/** A view with the given axes broadcast (stride 0) and the rest packed row-major, padded rows. */
function makeView(shape: number[], broadcastMask: number, offset: number, pad = 0): TensorView {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let k = shape.length - 1; k >= 0; k--) {
    if (broadcastMask & (1 << k)) strides[k] = 0;
    else {
      strides[k] = s;
      s *= shape[k]! + (k === shape.length - 1 ? pad : 0);
    }
  }
  return { offset, strides };
}

describe.skipIf(!gpu)('elementwise and embeddings on the GPU', () => {
  const real = gpu ? capsFromReport(gpu.report) : undefined;

  for (const isSoftware of [true, false]) {
    it(`random expression trees over broadcast/strided views (${isSoftware ? 'software' : 'hardware'} caps)`, async () => {
      await fc.assert(
        fc.asyncProperty(caseArb, async (k) => {
          const rng = rngFrom(k.seed);
          const outView = makeView(k.shape, 0, k.outOffset, k.outPad);
          const expr = k.inPlace ? ex.add(ex.output(0), k.expr) : k.expr;
          const problem = {
            shape: k.shape,
            inputs: k.inputViews.map((v, i) => ({ name: `in${i}`, view: makeView(k.shape, v.broadcastMask, v.offset) })),
            outputs: [{ name: 'out', view: outView, expr }],
            uniforms: UNIFORMS,
          };
          const kernel = emitElementwise(selectElementwise(problem, { ...real!, isSoftware }));
          const data: Record<string, HostArray> = {};
          for (const b of kernel.bindings) data[b.name] = randomArray(b.elements, rng);
          const u = data.u as Float32Array;
          const expected = Float32Array.from(data.out as Float32Array);
          for (const c of coordsOf(k.shape)) {
            const ins = problem.inputs.map((p) => (data[p.name] as Float32Array)[viewIndex(p.view, c)]!);
            const oi = viewIndex(outView, c);
            expected[oi] = evalExpr(expr, ins, [(data.out as Float32Array)[oi]!], u);
          }
          const out = await runKernel(gpu!, kernel, data);
          expect(out.out).toAllClose(expected, { atol: 1e-4, rtol: 1e-3 });
        }),
        { numRuns: 20 },
      );
    });
  }

  it('every op, one output each, matches the reference', async () => {
    const n = 29;
    const a = ex.input(0), b = ex.input(1);
    const exprs: Record<string, Expr> = {
      add: ex.add(a, b), sub: ex.sub(a, b), mul: ex.mul(a, b), div: ex.div(a, ex.add(ex.c(3), b)),
      neg: ex.neg(a), exp: ex.exp(a), sqrt: ex.sqrt(ex.add(ex.c(1.5), a)), log: ex.log(ex.add(ex.c(1.5), a)),
      silu: ex.silu(ex.mul(ex.c(4), a)), gelu_tanh: ex.gelu(ex.mul(ex.c(4), a)), uniform: ex.mul(ex.u(0), ex.neg(ex.c(-2.5))),
    };
    const view = { offset: 0, strides: [1] };
    const problem = {
      shape: [n],
      inputs: [{ name: 'a', view }, { name: 'b', view }],
      outputs: Object.entries(exprs).map(([name, expr]) => ({ name: `o_${name}`, view, expr })),
      uniforms: 1,
    };
    const kernel = emitElementwise(selectElementwise(problem, real!));
    const rng = rngFrom(8);
    const data: Record<string, HostArray> = { a: randomArray(n, rng), b: randomArray(n, rng), u: Float32Array.of(0.75) };
    for (const o of problem.outputs) data[o.name] = new Float32Array(n);
    const out = await runKernel(gpu!, kernel, data);
    for (const o of problem.outputs) {
      const expected = Float32Array.from({ length: n }, (_, i) => evalExpr(o.expr, [data.a![i]!, data.b![i]!], [], [0.75]));
      expect(out[o.name]).toAllClose(expected, { atol: 1e-5, rtol: 1e-5 });
    }
  });

  it('a sampler-style update with two outputs, uniforms and an in-place read', async () => {
    // x ← a·x + b·eps (in place), and pred ← x_old − eps: both read x before it is written.
    const n = 37;
    const problem = {
      label: 'update',
      shape: [n],
      inputs: [{ name: 'eps', view: { offset: 0, strides: [1] } }],
      outputs: [
        { name: 'x', view: { offset: 0, strides: [1] }, expr: ex.add(ex.mul(ex.u(0), ex.output(0)), ex.mul(ex.u(1), ex.input(0))) },
        { name: 'pred', view: { offset: 0, strides: [1] }, expr: ex.sub(ex.output(0), ex.input(0)) },
      ],
      uniforms: 2,
    };
    const kernel = emitElementwise(selectElementwise(problem, real!));
    const rng = rngFrom(5);
    const x = randomArray(n, rng), eps = randomArray(n, rng);
    const out = await runKernel(gpu!, kernel, { x, eps, pred: new Float32Array(n), u: Float32Array.of(0.9, -0.3) });
    expect(out.x).toAllClose(x.map((v, i) => 0.9 * v - 0.3 * eps[i]!), { atol: 1e-6 });
    expect(out.pred).toAllClose(x.map((v, i) => v - eps[i]!), { atol: 1e-6 });
  });

  it('timestep embedding: cos then sin, accurate for t up to 999', async () => {
    const t = Float32Array.of(0, 1, 17.5, 250, 999);
    for (const dim of [16, 7]) {
      const k = emitTimestepEmbed(selectTimestepEmbed({ B: t.length, dim, maxPeriod: 10000 }, real!));
      const out = await runKernel(gpu!, k, { t, out: new Float32Array(t.length * dim) });
      expect(out.out).toAllClose(timestepRef(t, dim, 10000), { atol: 2e-4, rtol: 0 });
    }
  });

  it('label lookup, including the CFG null class row', async () => {
    const rows = 5, dim = 6;
    const table = randomArray(rows * dim, rngFrom(9));
    const ids = Int32Array.of(4, 0, 2, 4);
    const k = emitLabelEmbed(selectLabelEmbed({ B: ids.length, rows, dim }, real!));
    const out = await runKernel(gpu!, k, { ids, table, out: new Float32Array(ids.length * dim) });
    const expected = new Float32Array(ids.length * dim);
    ids.forEach((id, b) => expected.set(table.subarray(id * dim, (id + 1) * dim), b * dim));
    expect(out.out).toAllClose(expected, { atol: 0 });
  });

  it('unpatchify permutes tokens to NCHW images', async () => {
    const [B, g, p, C] = [2, 3, 2, 5];
    const x = randomArray(B * g * g * p * p * C, rngFrom(2));
    const k = emitUnpatchify(selectUnpatchify({ B, grid: g, patch: p, channels: C }, real!));
    const out = await runKernel(gpu!, k, { x, out: new Float32Array(x.length) });
    expect(out.out).toAllClose(unpatchifyRef(x, B, g, p, C), { atol: 0 });
  });

  it('pos add broadcasts [T, D] over the batch, in place', async () => {
    const [B, T, D] = [2, 3, 5];
    const rng = rngFrom(4);
    const h = randomArray(B * T * D, rng), pos = randomArray(T * D, rng);
    const k = emitElementwise(selectElementwise(posAddProblem(B, T, D), real!));
    const out = await runKernel(gpu!, k, { h, pos });
    expect(out.h).toAllClose(h.map((v, i) => v + pos[i % (T * D)]!), { atol: 1e-7 });
  });
});
