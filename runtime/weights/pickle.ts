/**
 * A Python unpickler for the subset of the pickle format that state dicts use (protocols 2–5, the
 * binary opcodes). It executes no code: a global (`torch._utils _rebuild_tensor_v2`) is only a
 * name; the caller's `call` hook decides what calling it means, and anything it does not know
 * becomes an opaque PyObject (so extra entries of a checkpoint, such as argparse arguments, are
 * harmless). Persistent ids (torch's storages) go to the `persistentLoad` hook.
 *
 * Value model: None → null, bool → boolean, int → number (bigint beyond 2^53), float → number,
 * str → string, bytes → Uint8Array, list and tuple → array, dict → Map, set → Set.
 */
import { DittoError } from '../../core/errors.ts';

export class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
  toString(): string {
    return `${this.module}.${this.name}`;
  }
}

/** The result of calling a global the caller did not interpret. */
export class PyObject {
  state: unknown = undefined;
  constructor(readonly cls: PyGlobal, readonly args: unknown[]) {}
}

export interface UnpickleHooks {
  persistentLoad(pid: unknown): unknown;
  /** Returns the value of `fn(*args)`, or undefined to keep an opaque PyObject. */
  call(fn: PyGlobal, args: unknown[]): unknown;
}

/** Opcodes ditto does not execute, by byte, so the error can name them. */
const UNSUPPORTED: Record<number, string> = {
  0x49: 'INT', 0x4c: 'LONG', 0x53: 'STRING', 0x56: 'UNICODE', 0x46: 'FLOAT', 0x69: 'INST', 0x6f: 'OBJ',
  0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
};

const MARK = Symbol('mark');

export function unpickle(bytes: Uint8Array, hooks: UnpickleHooks, what: string): unknown {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder('utf-8', { fatal: false });
  let stack: unknown[] = [];
  const metastack: unknown[][] = [];
  const memo = new Map<number, unknown>();
  let pos = 0;

  const fail = (message: string): never => {
    throw new DittoError('E_WEIGHTS', `${what}: ${message}`);
  };
  const need = (n: number) => {
    if (n < 0 || pos + n > bytes.length) fail(`pickle truncated at byte ${pos} (needs ${n} more bytes)`);
  };
  const u8 = () => (need(1), bytes[pos++]!);
  const u16 = () => (need(2), (pos += 2), view.getUint16(pos - 2, true));
  const u32 = () => (need(4), (pos += 4), view.getUint32(pos - 4, true));
  const i32 = () => (need(4), (pos += 4), view.getInt32(pos - 4, true));
  const u64 = () => {
    need(8);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(bytes.length)) fail(`length ${v} at byte ${pos - 8} is beyond the pickle`);
    return Number(v);
  };
  const take = (n: number) => (need(n), (pos += n), bytes.slice(pos - n, pos));
  const line = () => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail(`pickle truncated at byte ${pos} (inside a text line)`);
    const s = utf8.decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const pop = () => {
    if (stack.length === 0) fail(`pickle stack underflow at byte ${pos}`);
    const v = stack.pop();
    if (v === MARK) fail(`unexpected MARK at byte ${pos}`);
    return v;
  };
  const top = () => {
    if (stack.length === 0) fail(`pickle stack underflow at byte ${pos}`);
    return stack[stack.length - 1];
  };
  const popMark = () => {
    const items = stack;
    const prev = metastack.pop();
    if (!prev) fail(`no MARK on the pickle stack at byte ${pos}`);
    stack = prev!;
    return items;
  };
  const longFrom = (b: Uint8Array) => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const call = (fn: unknown, args: unknown) => {
    if (!(fn instanceof PyGlobal)) fail(`pickle calls a value that is not a global (${typeof fn})`);
    const list = Array.isArray(args) ? args : fail('pickle REDUCE arguments are not a tuple');
    const out = hooks.call(fn as PyGlobal, list);
    return out === undefined ? new PyObject(fn as PyGlobal, list) : out;
  };
  const setItems = (target: unknown, items: unknown[]) => {
    if (!(target instanceof Map)) fail('pickle SETITEM(S) on a value that is not a dict');
    if (items.length % 2) fail('pickle SETITEMS with an odd number of items');
    for (let i = 0; i < items.length; i += 2) (target as Map<unknown, unknown>).set(items[i], items[i + 1]);
  };
  const appendItems = (target: unknown, items: unknown[]) => {
    if (Array.isArray(target)) target.push(...items);
    else if (target instanceof PyObject) target.state = [...((target.state as unknown[]) ?? []), ...items];
    else fail('pickle APPEND(S) on a value that is not a list');
  };

  for (;;) {
    const at = pos;
    const op = u8();
    switch (op) {
      case 0x80: u8(); break; // PROTO
      case 0x95: pos += 8; need(0); break; // FRAME: framing is transparent here
      case 0x2e: return pop(); // STOP
      case 0x28: metastack.push(stack); stack = []; break; // MARK
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: stack.push(top()); break; // DUP
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x4a: stack.push(i32()); break; // BININT
      case 0x4b: stack.push(u8()); break; // BININT1
      case 0x4d: stack.push(u16()); break; // BININT2
      case 0x8a: stack.push(longFrom(take(u8()))); break; // LONG1
      case 0x8b: { const n = i32(); stack.push(longFrom(take(n))); break; } // LONG4
      case 0x47: need(8); stack.push(view.getFloat64(pos, false)); pos += 8; break; // BINFLOAT (big-endian)
      case 0x58: stack.push(utf8.decode(take(u32()))); break; // BINUNICODE
      case 0x8c: stack.push(utf8.decode(take(u8()))); break; // SHORT_BINUNICODE
      case 0x8d: stack.push(utf8.decode(take(u64()))); break; // BINUNICODE8
      case 0x54: stack.push(new TextDecoder('latin1').decode(take(i32()))); break; // BINSTRING
      case 0x55: stack.push(new TextDecoder('latin1').decode(take(u8()))); break; // SHORT_BINSTRING
      case 0x42: stack.push(take(u32())); break; // BINBYTES
      case 0x43: stack.push(take(u8())); break; // SHORT_BINBYTES
      case 0x8e: case 0x96: stack.push(take(u64())); break; // BINBYTES8, BYTEARRAY8
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x29: stack.push([]); break; // EMPTY_TUPLE
      case 0x8f: stack.push(new Set()); break; // EMPTY_SET
      case 0x90: { const items = popMark(); const s = top(); if (!(s instanceof Set)) fail('pickle ADDITEMS on a non-set'); for (const i of items) (s as Set<unknown>).add(i); break; }
      case 0x91: { const items = popMark(); stack.push(new Set(items)); break; } // FROZENSET
      case 0x74: { const items = popMark(); stack.push(items); break; } // TUPLE (popMark swaps `stack`: read it after)
      case 0x85: stack.push([pop()]); break; // TUPLE1
      case 0x86: { const b = pop(); const a = pop(); stack.push([a, b]); break; } // TUPLE2
      case 0x87: { const c = pop(); const b = pop(); const a = pop(); stack.push([a, b, c]); break; } // TUPLE3
      case 0x6c: { const items = popMark(); stack.push(items); break; } // LIST
      case 0x64: { const m = new Map(); setItems(m, popMark()); stack.push(m); break; } // DICT
      case 0x61: { const v = pop(); appendItems(top(), [v]); break; } // APPEND
      case 0x65: { const items = popMark(); appendItems(top(), items); break; } // APPENDS
      case 0x73: { const v = pop(); const k = pop(); setItems(top(), [k, v]); break; } // SETITEM
      case 0x75: { const items = popMark(); setItems(top(), items); break; } // SETITEMS
      case 0x63: { const module = line(); const name = line(); stack.push(new PyGlobal(module, name)); break; } // GLOBAL
      case 0x93: { const name = pop(); const module = pop(); stack.push(new PyGlobal(String(module), String(name))); break; } // STACK_GLOBAL
      case 0x52: { const args = pop(); const fn = pop(); stack.push(call(fn, args)); break; } // REDUCE
      case 0x81: { const args = pop(); const cls = pop(); stack.push(call(cls, args)); break; } // NEWOBJ
      case 0x92: { pop(); const args = pop(); const cls = pop(); stack.push(call(cls, args)); break; } // NEWOBJ_EX (kwargs ignored)
      case 0x62: { // BUILD: object state. Dict attributes (OrderedDict._metadata) carry nothing ditto needs.
        const state = pop();
        const obj = top();
        if (obj instanceof PyObject) obj.state = state;
        break;
      }
      case 0x71: memo.set(u8(), top()); break; // BINPUT
      case 0x72: memo.set(u32(), top()); break; // LONG_BINPUT
      case 0x70: memo.set(Number(line()), top()); break; // PUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x68: case 0x6a: case 0x67: { // BINGET, LONG_BINGET, GET
        const key = op === 0x68 ? u8() : op === 0x6a ? u32() : Number(line());
        if (!memo.has(key)) fail(`pickle reads memo slot ${key}, which was never written`);
        stack.push(memo.get(key));
        break;
      }
      case 0x51: stack.push(hooks.persistentLoad(pop())); break; // BINPERSID
      case 0x50: stack.push(hooks.persistentLoad(line())); break; // PERSID
      default: {
        const name = UNSUPPORTED[op];
        fail(name
          ? `unsupported pickle opcode ${name} (0x${op.toString(16).padStart(2, '0')}) at byte ${at}`
          : `unknown pickle opcode 0x${op.toString(16).padStart(2, '0')} at byte ${at}`);
      }
    }
  }
}
