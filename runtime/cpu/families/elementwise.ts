/** CPU definition of the `elementwise` family (compiler/kernels/elementwise.ts): per element of the
 *  iteration shape, every input read through its strided view, every output expression evaluated
 *  (an `output` leaf reads that output's value before any write), then the outputs written. */
import type { ElementwiseConfig, Expr } from '../../../compiler/kernels/elementwise.ts';
import { f, geluTanh, silu, type Elements } from './types.ts';

function evaluate(e: Expr, inputs: Float64Array, outputs: readonly Elements[], outIdx: Int32Array, u: Elements | undefined): number {
  switch (e.op) {
    case 'input': return inputs[e.index]!;
    case 'output': return outputs[e.index]![outIdx[e.index]!]!;
    case 'const': return f(e.value);
    case 'uniform': return u![e.index]!;
    case 'neg': return -evaluate(e.a, inputs, outputs, outIdx, u);
    case 'exp': return f(Math.exp(evaluate(e.a, inputs, outputs, outIdx, u)));
    case 'sqrt': return f(Math.sqrt(evaluate(e.a, inputs, outputs, outIdx, u)));
    case 'log': return f(Math.log(evaluate(e.a, inputs, outputs, outIdx, u)));
    case 'silu': return silu(evaluate(e.a, inputs, outputs, outIdx, u));
    case 'gelu_tanh': return geluTanh(evaluate(e.a, inputs, outputs, outIdx, u));
    case 'add': return f(evaluate(e.a, inputs, outputs, outIdx, u) + evaluate(e.b, inputs, outputs, outIdx, u));
    case 'sub': return f(evaluate(e.a, inputs, outputs, outIdx, u) - evaluate(e.b, inputs, outputs, outIdx, u));
    case 'mul': return f(evaluate(e.a, inputs, outputs, outIdx, u) * evaluate(e.b, inputs, outputs, outIdx, u));
    case 'div': return f(evaluate(e.a, inputs, outputs, outIdx, u) / evaluate(e.b, inputs, outputs, outIdx, u));
    case 'min': return Math.min(evaluate(e.a, inputs, outputs, outIdx, u), evaluate(e.b, inputs, outputs, outIdx, u));
    case 'max': return Math.max(evaluate(e.a, inputs, outputs, outIdx, u), evaluate(e.b, inputs, outputs, outIdx, u));
    case 'pow': return f(Math.pow(evaluate(e.a, inputs, outputs, outIdx, u), evaluate(e.b, inputs, outputs, outIdx, u)));
  }
}

export function elementwise(c: ElementwiseConfig, bindings: Elements[]): void {
  const nIn = c.inputs.length;
  const nOut = c.outputs.length;
  const ins = bindings.slice(0, nIn);
  const outs = bindings.slice(nIn, nIn + nOut);
  const u = c.uniforms > 0 ? bindings[nIn + nOut] : undefined;
  const rank = c.shape.length;
  const total = c.shape.reduce((a, b) => a * b, 1);
  const coord = new Int32Array(rank);
  const inVals = new Float64Array(nIn);
  const outIdx = new Int32Array(nOut);
  const results = new Float64Array(nOut);
  const at = (v: { offset: number; strides: number[] }) => {
    let i = v.offset;
    for (let k = 0; k < rank; k++) i += coord[k]! * v.strides[k]!;
    return i;
  };
  for (let idx = 0; idx < total; idx++) {
    let rest = idx;
    for (let k = rank - 1; k >= 0; k--) {
      coord[k] = rest % c.shape[k]!;
      rest = Math.floor(rest / c.shape[k]!);
    }
    for (let n = 0; n < nIn; n++) inVals[n] = ins[n]![at(c.inputs[n]!.view)]!;
    for (let n = 0; n < nOut; n++) outIdx[n] = at(c.outputs[n]!.view);
    for (let n = 0; n < nOut; n++) results[n] = evaluate(c.outputs[n]!.expr, inVals, outs, outIdx, u);
    for (let n = 0; n < nOut; n++) outs[n]![outIdx[n]!] = results[n]!;
  }
}
