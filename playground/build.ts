/**
 * `npm run playground:build [-- --out DIR]`: bundles the playground page from the repository's own
 * grammar, compiler and runtime modules (esbuild) into a folder of static files (default
 * playground/dist): index.html, the bundle, the service worker, and the model's weights.
 *
 * The browser build differs from Node only in what it resolves: runtime/platform/node.ts (Dawn)
 * becomes runtime/platform/browser.ts (navigator.gpu), grammar/chevrotain.ts (which finds chevrotain's
 * single-file build on disk) becomes playground/shims/chevrotain.ts; Node built-ins map to playground/shims
 * (a read-only in-memory file system holding the repository's .ditto sources and tables, so the
 * front end loads the shipped model and schedule library through its usual code); each module's
 * `import.meta.url` becomes file:///ditto/<its repository path>, so paths built from it land in
 * that file system exactly as they would in the repository.
 */
import { build, type Plugin } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(here, '..');

/** Weights the page fetches from its own origin (not bundled). */
export const WEIGHT_FILES = {
  'weights/fmnist-dit.safetensors': 'models/weights/fmnist-dit.safetensors',
  'weights/fmnist-classifier.safetensors': 'models/fid/fmnist-classifier.safetensors',
} as const;

/** Repository files the page's compiler reads: the model sources and the shipped schedule library. */
function virtualFiles(): Record<string, string> {
  const out: Record<string, string> = {};
  const add = (rel: string) => (out[`/ditto/${rel}`] = readFileSync(path.join(REPO, rel)).toString('base64'));
  // core/packageRoot.ts finds the package root by its package.json (name and version suffice).
  const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { name: string; version: string };
  out['/ditto/package.json'] = Buffer.from(JSON.stringify({ name: pkg.name, version: pkg.version })).toString('base64');
  for (const f of readdirSync(path.join(REPO, 'models')).filter((f) => f.endsWith('.ditto'))) add(`models/${f}`);
  for (const f of readdirSync(path.join(REPO, 'models/schedules')).filter((f) => /\.(ditto|npy|json)$/.test(f))) add(`models/schedules/${f}`);
  return out;
}

const SHIMS: Record<string, string> = {
  fs: path.join(here, 'shims/fs.ts'),
  url: path.join(here, 'shims/url.ts'),
  path: path.join(REPO, 'node_modules/path-browserify/index.js'),
  zlib: path.join(here, 'shims/unsupported.ts'),
  os: path.join(here, 'shims/unsupported.ts'),
  module: path.join(here, 'shims/unsupported.ts'),
};

const browserPlugin: Plugin = {
  name: 'ditto-browser',
  setup(b) {
    b.onResolve({ filter: /^(node:)?(fs|url|path|zlib|os|module)$/ }, (args) => ({ path: SHIMS[args.path.replace(/^node:/, '')]! }));
    b.onResolve({ filter: /^(node:)?[a-z_]+$/ }, (args) => {
      const builtins = ['crypto', 'child_process', 'worker_threads', 'http', 'https', 'net', 'readline', 'stream', 'util', 'events', 'perf_hooks', 'buffer'];
      if (builtins.includes(args.path.replace(/^node:/, ''))) return { errors: [{ text: `${args.importer} imports the Node built-in '${args.path}', which the browser bundle has no shim for` }] };
      return undefined;
    });
    // The one Node-only module of the runtime's device layer gets its browser twin (same exports).
    b.onResolve({ filter: /\/platform\/node\.ts$/ }, (args) => ({ path: path.join(path.dirname(path.resolve(args.resolveDir, args.path)), 'browser.ts') }));
    // The grammar loads chevrotain's single-file build from disk in Node; the bundle takes the package.
    b.onResolve({ filter: /\/chevrotain\.ts$/ }, () => ({ path: path.join(here, 'shims/chevrotain.ts') }));
    b.onResolve({ filter: /^ditto-vfs$/ }, () => ({ path: 'ditto-vfs', namespace: 'ditto-vfs' }));
    b.onLoad({ filter: /.*/, namespace: 'ditto-vfs' }, () => ({ contents: `export const files = ${JSON.stringify(virtualFiles())};`, loader: 'js' }));
    b.onLoad({ filter: /\.ts$/ }, (args) => {
      if (args.path.includes(`${path.sep}node_modules${path.sep}`)) return undefined;
      const rel = path.relative(REPO, args.path).split(path.sep).join('/');
      const text = readFileSync(args.path, 'utf8').replaceAll('import.meta.url', JSON.stringify(`file:///ditto/${rel}`));
      return { contents: text, loader: 'ts' };
    });
  },
};

export interface BuildResult {
  out: string;
  bundleBytes: number;
  bundleGzipBytes: number;
}

export async function buildPlayground(out = path.join(here, 'dist')): Promise<BuildResult> {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(path.join(out, 'weights'), { recursive: true });
  await build({
    entryPoints: { app: path.join(here, 'src/main.ts'), sw: path.join(here, 'src/sw.ts') },
    outdir: out,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    inject: [path.join(here, 'shims/process.ts')],
    define: { 'process.env.NODE_ENV': '"production"' },
    plugins: [browserPlugin],
    logLevel: 'warning',
  });
  for (const f of ['index.html', 'style.css']) copyFileSync(path.join(here, 'src', f), path.join(out, f));
  for (const [to, from] of Object.entries(WEIGHT_FILES)) copyFileSync(path.join(REPO, from), path.join(out, to));
  // The page's own files, for the size budget (weights excluded): everything but weights/.
  let bundleBytes = 0;
  let bundleGzipBytes = 0;
  for (const f of readdirSync(out)) {
    if (f === 'weights') continue;
    const bytes = readFileSync(path.join(out, f));
    bundleBytes += bytes.length;
    bundleGzipBytes += gzipSync(bytes, { level: 9 }).length;
  }
  writeFileSync(path.join(out, 'build.json'), JSON.stringify({ bundleBytes, bundleGzipBytes }, null, 2) + '\n');
  return { out, bundleBytes, bundleGzipBytes };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--out');
  const out = i > 0 ? path.resolve(process.argv[i + 1] ?? '') : undefined;
  if (out !== undefined && !existsSync(path.dirname(out))) {
    console.error(`error: --out: the folder '${path.dirname(out)}' does not exist`);
    process.exit(1);
  }
  buildPlayground(out)
    .then((r) => console.log(`playground: ${path.relative(process.cwd(), r.out) || '.'} (page ${(r.bundleBytes / 1024).toFixed(0)} KiB, ${(r.bundleGzipBytes / 1024).toFixed(0)} KiB gzipped, weights excluded)`))
    .catch((e: Error) => {
      console.error(`error: ${e.message}`);
      process.exit(1);
    });
}
