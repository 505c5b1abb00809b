// `npm run device-check:pack [-- DEST]`: copies the packages the device check needs at run time
// (ditto's dependencies, and tsx, which runs the TypeScript) from node_modules into
// DEST/node_modules (default .device-modules/node_modules), keeping only the Linux x64 build of
// Dawn. About 35 MB instead of the full node_modules (onnxruntime-node alone is 288 MB): small
// enough to carry to a GPU machine without network, where bench/device-check/run.sh links it in.
// Plain JavaScript, so it runs without tsx.
import { cpSync, existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dest = path.resolve(root, process.argv[2] ?? '.device-modules');
const lock = JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8'));
const packages = lock.packages ?? {};
const top = packages[''] ?? {};
const wanted = [...Object.keys(top.dependencies ?? {}), 'tsx'];
const keepDawn = `${process.platform === 'darwin' ? 'darwin-universal' : 'linux-x64'}`;

/** Node's lookup: node_modules/<name> next to the requiring package, then in each folder above. */
function resolve(from, name) {
  for (let dir = from; ; dir = dir.slice(0, Math.max(0, dir.lastIndexOf('/node_modules/')))) {
    const candidate = dir ? `${dir}/node_modules/${name}` : `node_modules/${name}`;
    if (packages[candidate]) return candidate;
    if (!dir) return undefined;
  }
}

const chosen = new Set();
const queue = wanted.map((name) => resolve('', name)).filter(Boolean);
while (queue.length) {
  const key = queue.pop();
  if (chosen.has(key)) continue;
  chosen.add(key);
  const meta = packages[key];
  for (const name of [...Object.keys(meta.dependencies ?? {}), ...Object.keys(meta.optionalDependencies ?? {})]) {
    const dep = resolve(key, name);
    if (dep && existsSync(path.join(root, dep))) queue.push(dep);
  }
}

rmSync(dest, { recursive: true, force: true });
let bytes = 0;
for (const key of [...chosen].sort()) {
  const src = path.join(root, key);
  if (!existsSync(src)) throw new Error(`${key} is in package-lock.json but not installed; run npm ci first`);
  cpSync(src, path.join(dest, key), {
    recursive: true,
    dereference: true,
    filter: (file) => {
      const rel = path.relative(src, file);
      // Nested packages are copied on their own when something needs them.
      if (rel.split(path.sep).includes('node_modules')) return false;
      if (key === 'node_modules/webgpu' && rel.startsWith(`dist${path.sep}`) && !rel.startsWith(`dist${path.sep}${keepDawn}`)) return false;
      // esbuild's install puts a second copy of its 10 MB binary here for its command line; tsx
      // uses the JavaScript API, which runs the platform package's (@esbuild/<platform>) binary.
      if (key === 'node_modules/esbuild' && rel === path.join('bin', 'esbuild')) return false;
      if (statSync(file).isFile()) bytes += statSync(file).size;
      return true;
    },
  });
}
process.stdout.write(`${chosen.size} packages, ${(bytes / 2 ** 20).toFixed(1)} MiB → ${path.relative(root, dest)}/node_modules\n`);
