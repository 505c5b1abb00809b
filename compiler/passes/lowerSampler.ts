/**
 * The sampler's side of a step body: stage the model inputs (the latent into both CFG halves, the
 * step's timestep) and, after the model, CFG combine → eps scale → DDPM/DDIM update, per channel
 * group (DiT guides channels 0–2 only). Per-step numbers come from the params row.
 */
import { invariant } from '../../core/errors.ts';
import { numel } from '../../core/tensor.ts';
import type { Node } from '../ir/graph.ts';
import type { Expr } from '../kernels/elementwise.ts';
import type { Operand, View } from './ir.ts';
import { type BodyBuilder, bin, C, IN, P } from './lowerBody.ts';
import { contiguous } from './views.ts';

/** x: the latent duplicated into each CFG half; t: the step's model timestep; y: uploaded once. */
export function stageInput(b: BodyBuilder, n: Node): void {
  invariant(n.op.kind === 'input', 'input');
  const { io } = b.ctx;
  if (n.op.name === 'x') {
    const copies = io.modelBatch / io.batch;
    const per = numel(io.latent);
    const shape = [copies, io.batch, ...io.latent];
    const out: Operand = { value: 'in:x', view: contiguous(shape) };
    const src: Operand = { value: 'latent', view: { offset: 0, shape, strides: [0, ...contiguous([io.batch, ...io.latent]).strides] } };
    invariant(src.view.strides[1] === per, 'latent stride');
    b.emit({ op: { kind: 'elementwise', shape, exprs: [IN(0)], label: 'stage_x' }, ins: [src], outs: [out], covers: [n.id], role: 'sampler', note: 'latent → model input (both CFG halves)' });
  } else if (n.op.name === 't') {
    b.emit({ op: { kind: 'elementwise', shape: [...n.shape], exprs: [P('t_model')], label: 'stage_t' }, ins: [], outs: [{ value: 'in:t', view: contiguous([...n.shape]) }], covers: [n.id], role: 'sampler', usesParams: true, note: 'timestep of this step' });
  }
}

export function sampler(b: BodyBuilder): void {
  const { io, opts } = b.ctx;
  const out = b.valueOf.get(io.output);
  invariant(out !== undefined, 'the model output is computed at every step');
  const [Cl, H, W] = io.latent as [number, number, number];
  const HW = H * W;
  const Co = io.outChannels;
  const B = io.batch;
  const cfg = opts.cfgScale !== undefined;
  const guided = !cfg ? 0 : opts.guide === 'all' ? Cl : Math.min(3, Cl);
  const groups: [number, number, boolean][] = [];
  if (guided > 0) groups.push([0, guided, true]);
  if (guided < Cl) groups.push([guided, Cl - guided, false]);
  const outStrides = [Co * HW, HW, W, 1];
  for (const [c0, cn, guide] of groups) {
    const shape = [B, cn, H, W];
    const view = (offset: number): View => ({ offset, shape, strides: outStrides });
    const cond: Operand = { value: out, view: view(c0 * HW) };
    const note = `channels ${c0}..${c0 + cn - 1}`;
    let eps: Operand = cond;
    if (guide) {
      const uncond: Operand = { value: out, view: view(B * Co * HW + c0 * HW) };
      const t = b.temp(shape);
      eps = { value: t, view: contiguous(shape) };
      // eps_u + s·(eps_c − eps_u)
      b.emit({ op: { kind: 'elementwise', shape, exprs: [bin('add', IN(1), bin('mul', C(opts.cfgScale!), bin('sub', IN(0), IN(1))))], label: 'cfg_combine' }, ins: [cond, uncond], outs: [eps], covers: [], role: 'sampler', note: `CFG combine, ${note}` });
    }
    const scaled = b.temp(shape);
    const epsS: Operand = { value: scaled, view: contiguous(shape) };
    b.emit({ op: { kind: 'elementwise', shape, exprs: [bin('mul', IN(0), P('eps_scale'))], label: 'eps_scale' }, ins: [eps], outs: [epsS], covers: [], role: 'sampler', usesParams: true, note: `eps scale, ${note}` });
    const latent: Operand = { value: 'latent', view: { offset: c0 * HW, shape, strides: contiguous([B, Cl, H, W]).strides } };
    const x: Expr = { op: 'output', index: 0 };
    const x0 = bin('sub', bin('mul', P('sqrt_recip_ab'), x), bin('mul', P('sqrt_recipm1_ab'), IN(0)));
    const ins: Operand[] = [epsS];
    let expr: Expr;
    if (opts.sampler === 'ddim') {
      const e2 = bin('div', bin('sub', bin('mul', P('sqrt_recip_ab'), x), x0), P('sqrt_recipm1_ab'));
      expr = bin('add', bin('mul', x0, P('sqrt_ab_prev')), bin('mul', P('sqrt_one_minus_ab_prev'), e2));
    } else {
      const mean = bin('add', bin('mul', P('coef1'), x0), bin('mul', P('coef2'), x));
      let logvar: Expr;
      if (io.learnSigma) {
        ins.push({ value: out, view: view((Cl + c0) * HW) }); // v of the cond half (never guided)
        const frac = bin('div', bin('add', IN(1), C(1)), C(2));
        logvar = bin('add', bin('mul', frac, P('log_beta')), bin('mul', bin('sub', C(1), frac), P('post_log_var')));
      } else logvar = P('fixed_log_var');
      ins.push({ value: 'noise', view: { offset: c0 * HW, shape, strides: contiguous([B, Cl, H, W]).strides } });
      const z = IN(ins.length - 1);
      expr = bin('add', mean, bin('mul', bin('mul', P('noise_flag'), { op: 'exp', a: bin('mul', C(0.5), logvar) }), z));
    }
    b.emit({ op: { kind: 'elementwise', shape, exprs: [expr], label: `${opts.sampler}_update` }, ins, outs: [latent], covers: [], role: 'sampler', usesParams: true, note: `${opts.sampler.toUpperCase()} update, ${note}` });
  }
}
