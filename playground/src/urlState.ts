/**
 * The page's state in the URL fragment, so a link reproduces it: the editor's text (UTF-8,
 * base64url), the schedule name, steps, images and seed. `#name=fora&steps=50&src=…`.
 */
export interface PageState {
  src?: string;
  name?: string;
  steps: number;
  images: number;
  seed: number;
}

export const DEFAULT_STATE: PageState = { steps: 50, images: 10, seed: 0 };

function toBase64Url(text: string): string {
  let bin = '';
  for (const b of new TextEncoder().encode(text)) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64Url(b64: string): string | undefined {
  try {
    const bin = atob(b64.replace(/-/g, '+').replace(/_/g, '/'));
    return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
  } catch {
    return undefined;
  }
}

function intIn(text: string | null, lo: number, hi: number, fallback: number): number {
  const v = Number(text);
  return text !== null && Number.isInteger(v) && v >= lo && v <= hi ? v : fallback;
}

export function readState(hash: string): PageState {
  const q = new URLSearchParams(hash.replace(/^#/, ''));
  const src = q.get('src');
  const text = src !== null ? fromBase64Url(src) : undefined;
  return {
    ...(text !== undefined ? { src: text } : {}),
    ...(q.get('name') ? { name: q.get('name')! } : {}),
    steps: intIn(q.get('steps'), 1, 1000, DEFAULT_STATE.steps),
    images: intIn(q.get('images'), 1, 40, DEFAULT_STATE.images),
    seed: intIn(q.get('seed'), 0, 2 ** 32 - 1, DEFAULT_STATE.seed),
  };
}

export function writeState(s: PageState): string {
  const q = new URLSearchParams();
  if (s.name) q.set('name', s.name);
  q.set('steps', String(s.steps));
  q.set('images', String(s.images));
  q.set('seed', String(s.seed));
  if (s.src !== undefined) q.set('src', toBase64Url(s.src));
  return `#${q.toString()}`;
}
