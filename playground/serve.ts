/**
 * `npm run playground [-- --port N] [-- --no-build]`: builds the page (playground/build.ts) and
 * serves the folder on http://127.0.0.1:PORT/ (a secure context, so WebGPU is allowed) with Node's
 * http module: static files only, GET/HEAD, nothing outside the folder.
 */
import { createServer, type Server } from 'node:http';
import { createReadStream, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildPlayground } from './build.ts';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.safetensors': 'application/octet-stream',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

export function serveFolder(root: string, port: number, host = '127.0.0.1'): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const urlPath = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = path.join(root, path.normalize(urlPath).replace(/^(\.\.[/\\])+/, ''), urlPath.endsWith('/') ? 'index.html' : '');
    if (!file.startsWith(root) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'content-length': statSync(file).size, 'cache-control': 'no-cache' });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const port = Number(arg('--port') ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`error: --port must be a whole number 0..65535, got '${arg('--port')}'`);
    process.exit(1);
  }
  const here = path.dirname(fileURLToPath(import.meta.url));
  const run = async () => {
    const root = process.argv.includes('--no-build') ? path.join(here, 'dist') : (await buildPlayground()).out;
    if (!existsSync(path.join(root, 'index.html'))) throw new Error(`'${root}' has no index.html; run npm run playground:build first`);
    const server = await serveFolder(root, port);
    const addr = server.address();
    console.log(`ditto playground: http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : port}/  (Ctrl-C stops it)`);
  };
  run().catch((e: Error) => {
    console.error(`error: ${e.message}`);
    process.exit(1);
  });
}
