/**
 * Page load → both grids on the playground's defaults, in headless Chromium: serves the built
 * playground, opens it with ?autorun and reads window.__ditto.result.sinceLoad. The figure of
 * docs/playground.md. Usage: npm run playground:build && tsx test/playground/timeToGrids.ts [--dir DIR]
 * (DIR: another build, e.g. `npm run playground:build -- --out /tmp/before` in an older checkout, to
 * time it in the same session). Prints the load average before and after: the figure is only
 * comparable between runs on an equally quiet machine.
 */
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import path from 'node:path';
import { findChromium, launchChromium } from '../helpers/chromium.ts';

const dirAt = process.argv.indexOf('--dir');
const root = path.resolve(dirAt > 0 ? process.argv[dirAt + 1] ?? '' : 'playground/dist');
console.log(`serving ${root}; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json', '.svg': 'image/svg+xml' };
const server = createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const file = path.join(root, url.pathname === '/' ? 'index.html' : decodeURIComponent(url.pathname));
  if (!file.startsWith(root)) { res.writeHead(404).end(); return; }
  try {
    const body = await readFile(file);
    res.writeHead(200, { 'content-type': types[path.extname(file)] ?? 'application/octet-stream' }).end(body);
  } catch { res.writeHead(404).end(); }
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
const bin = findChromium();
if (!bin) throw new Error('no chromium');
const browser = await launchChromium(bin, origin);
const page = await browser.newPage();
const t0 = Date.now();
await page.goto(`${origin}/?autorun`);
await page.waitForFunction('window.__ditto && window.__ditto.result && window.__ditto.result.sinceLoad', { timeout: 1_800_000, polling: 1000 });
// The result holds both plans and all images: print only the figures.
const summary = await page.evaluate(`(() => { const r = window.__ditto.result;
  return JSON.stringify({ sinceLoad: r.sinceLoad, seconds: r.seconds, speedup: r.speedup, psnr: r.psnr, ssim: r.ssim, accuracy: r.accuracy, setup: r.setup, phases: r.phases }); })()`);
console.log(`wall ${(Date.now() - t0) / 1000} s; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
console.log(summary);
await browser.close();
server.close();
