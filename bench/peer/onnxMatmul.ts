/**
 * A one-node ONNX model, C[M, N] = A[M, K] · W[K, N] with W a constant initializer, written
 * in-process (a hand-rolled protobuf encoder: the few ONNX messages needed), so the kernel
 * microbenchmarks can time onnxruntime-node's CPU matmul at DiT shapes without Python. W is an
 * initializer, not an input, so ORT may pre-pack it as it would a real model's weights.
 */

/** Protobuf wire encoding, just what ONNX's ModelProto needs. */
class Pb {
  private parts: Uint8Array[] = [];
  private static enc = new TextEncoder();

  private varint(n: number | bigint): void {
    let v = BigInt(n);
    if (v < 0n) v += 1n << 64n; // int64 negatives: two's complement in 10 bytes
    const out: number[] = [];
    do {
      let b = Number(v & 0x7fn);
      v >>= 7n;
      if (v > 0n) b |= 0x80;
      out.push(b);
    } while (v > 0n);
    this.parts.push(Uint8Array.from(out));
  }
  private key(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }
  int(field: number, v: number): this {
    this.key(field, 0);
    this.varint(v);
    return this;
  }
  bytes(field: number, b: Uint8Array): this {
    this.key(field, 2);
    this.varint(b.length);
    this.parts.push(b);
    return this;
  }
  str(field: number, s: string): this {
    return this.bytes(field, Pb.enc.encode(s));
  }
  msg(field: number, m: Pb): this {
    return this.bytes(field, m.finish());
  }
  finish(): Uint8Array {
    const n = this.parts.reduce((s, p) => s + p.length, 0);
    const out = new Uint8Array(n);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

const FLOAT = 1; // TensorProto.DataType.FLOAT

function valueInfo(name: string, shape: readonly number[]): Pb {
  const dims = new Pb();
  for (const d of shape) dims.msg(1, new Pb().int(1, d)); // TensorShapeProto.dim{dim_value}
  const tensorType = new Pb().int(1, FLOAT).msg(2, dims);
  return new Pb().str(1, name).msg(2, new Pb().msg(1, tensorType));
}

function initializer(name: string, shape: readonly number[], data: Float32Array): Pb {
  const t = new Pb();
  for (const d of shape) t.int(1, d);
  t.int(2, FLOAT).str(8, name);
  return t.bytes(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength)); // raw_data, little-endian
}

/**
 * ONNX bytes for C = A · W, inputs `A` [M, K], output `C` [M, N], W [K, N] row-major as given.
 * Opset 14, IR version 7 (both read by every onnxruntime since 1.8).
 */
export function matmulOnnx(M: number, N: number, K: number, w: Float32Array): Uint8Array {
  if (w.length !== K * N) throw new RangeError(`matmulOnnx: W has ${w.length} values, expected K·N = ${K * N}`);
  const node = new Pb().str(1, 'A').str(1, 'W').str(2, 'C').str(3, 'matmul').str(4, 'MatMul');
  const graph = new Pb()
    .msg(1, node)
    .str(2, `matmul_${M}x${N}x${K}`)
    .msg(5, initializer('W', [K, N], w))
    .msg(11, valueInfo('A', [M, K]))
    .msg(12, valueInfo('C', [M, N]));
  return new Pb()
    .int(1, 7)
    .str(2, 'ditto-bench')
    .msg(7, graph)
    .msg(8, new Pb().str(1, '').int(2, 14))
    .finish();
}
