/** CPU definitions of the index-mapping families (compiler/kernels/embeddings.ts, upsample.ts):
 *  timestep_embed, label_embed, unpatchify, upsample_nearest. */
import type { LabelEmbedConfig, TimestepEmbedConfig, UnpatchifyConfig } from '../../../compiler/kernels/embeddings.ts';
import type { UpsampleNearestConfig } from '../../../compiler/kernels/upsample.ts';
import { f, type Elements } from './types.ts';

export function timestepEmbed(c: TimestepEmbedConfig, bindings: Elements[]): void {
  const [t, out] = bindings as [Elements, Elements];
  const half = Math.floor(c.dim / 2);
  const scale = f(-Math.log(c.maxPeriod) / half);
  const [t0, o0] = [c.offsets?.t ?? 0, c.offsets?.out ?? 0];
  for (let b = 0; b < c.B; b++) {
    for (let j = 0; j < c.dim; j++) {
      if (j >= 2 * half) {
        out[o0 + b * c.dim + j] = 0;
        continue;
      }
      const fj = j >= half ? j - half : j;
      const arg = f(t[t0 + b]! * f(Math.exp(f(scale * fj))));
      out[o0 + b * c.dim + j] = j >= half ? Math.sin(arg) : Math.cos(arg);
    }
  }
}

export function labelEmbed(c: LabelEmbedConfig, bindings: Elements[]): void {
  const [ids, table, out] = bindings as [Elements, Elements, Elements];
  for (let b = 0; b < c.B; b++) {
    const id = Math.min(c.rows - 1, Math.max(0, ids[(c.offsets?.ids ?? 0) + b]!));
    out.set(table.subarray(id * c.dim, (id + 1) * c.dim), (c.offsets?.out ?? 0) + b * c.dim);
  }
}

export function unpatchify(c: UnpatchifyConfig, bindings: Elements[]): void {
  const [x, out] = bindings as [Elements, Elements];
  const { grid: g, patch: p, channels: C } = c;
  const side = g * p;
  const [x0, o0] = [c.offsets?.x ?? 0, c.offsets?.out ?? 0];
  for (let b = 0; b < c.B; b++) {
    for (let ch = 0; ch < C; ch++) {
      for (let py = 0; py < side; py++) {
        for (let px = 0; px < side; px++) {
          const tok = Math.floor(py / p) * g + Math.floor(px / p);
          const e = ((py % p) * p + (px % p)) * C + ch;
          out[o0 + ((b * C + ch) * side + py) * side + px] = x[x0 + (b * g * g + tok) * p * p * C + e]!;
        }
      }
    }
  }
}

export function upsampleNearest(c: UpsampleNearestConfig, bindings: Elements[]): void {
  const [x, y] = bindings as [Elements, Elements];
  const OH = c.H * c.factor;
  const OW = c.W * c.factor;
  for (let pl = 0; pl < c.planes; pl++) {
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        y[(pl * OH + oy) * OW + ox] = x[(pl * c.H + Math.floor(oy / c.factor)) * c.W + Math.floor(ox / c.factor)]!;
      }
    }
  }
}
