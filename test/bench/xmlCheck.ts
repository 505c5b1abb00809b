/**
 * A tiny XML well-formedness check for the SVG tests: every tag closes in order, attributes are
 * quoted and unique, text holds no raw `<` or stray `&`. Returns the element names in document order.
 */
export function checkXml(xml: string): string[] {
  const names: string[] = [];
  const stack: string[] = [];
  let i = 0;
  const body = xml.replace(/^<\?xml[^?]*\?>\s*/, '');
  const text = (s: string) => {
    if (/&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.test(s)) throw new Error(`stray '&' in text: ${s.slice(0, 40)}`);
  };
  while (i < body.length) {
    const lt = body.indexOf('<', i);
    if (lt < 0) {
      text(body.slice(i));
      break;
    }
    text(body.slice(i, lt));
    const gt = body.indexOf('>', lt);
    if (gt < 0) throw new Error(`unclosed tag at ${lt}`);
    const tag = body.slice(lt + 1, gt);
    i = gt + 1;
    if (tag.startsWith('/')) {
      const open = stack.pop();
      if (open !== tag.slice(1).trim()) throw new Error(`</${tag.slice(1)}> closes <${open}>`);
      continue;
    }
    const selfClosing = tag.endsWith('/');
    const inner = selfClosing ? tag.slice(0, -1) : tag;
    const m = /^([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*$/.exec(inner);
    if (!m) throw new Error(`malformed tag <${tag}>`);
    const attrs = [...m[2]!.matchAll(/([\w:-]+)="([^"]*)"/g)];
    const seen = new Set<string>();
    for (const a of attrs) {
      if (seen.has(a[1]!)) throw new Error(`duplicate attribute ${a[1]} in <${m[1]}>`);
      seen.add(a[1]!);
      text(a[2]!);
    }
    names.push(m[1]!);
    if (!selfClosing) stack.push(m[1]!);
  }
  if (stack.length) throw new Error(`unclosed elements: ${stack.join(', ')}`);
  return names;
}
