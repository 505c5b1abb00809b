import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import path from 'node:path';
import { findChromium, launchChromium } from './test/helpers/chromium.ts';
const root = '/tmp/probe';
const server = createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const file = path.join(root, url.pathname === '/' ? 'index.html' : url.pathname);
  try { const b = await readFile(file); res.writeHead(200, { 'content-type': file.endsWith('.html') ? 'text/html' : 'application/json' }).end(b); } catch { res.writeHead(404).end(); }
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
console.log('load', loadavg()[0]);
const browser = await launchChromium(findChromium()!, origin);
const page = await browser.newPage();
page.on('console', (m) => console.log('console', m.text()));
await page.goto(origin + '/');
await page.waitForFunction('window.__probe', { timeout: 1_800_000, polling: 500 });
console.log(JSON.stringify(await page.evaluate('window.__probe')));
console.log('load', loadavg()[0]);
await browser.close(); server.close();
