/**
 * ditto as a Node user meets it: `npm pack` (which builds dist/ through `prepare`), the tarball
 * installed into an empty folder, then plain `node` — no tsx — importing the API, running the CLI,
 * and running every example of docs/api.md after type-checking it against the installed package's
 * declarations. The examples that sample need a WebGPU adapter: without one they skip loudly (and
 * fail under CI=true, see test/helpers/gpu.ts). Slow by nature (pack, build, install of ~150 MB of
 * dependencies, one Node process per example), so everything is done once and kept small.
 */
import { describe, expect, it, beforeAll } from 'vitest';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import { PACKAGE_ROOT } from '../../core/packageRoot.ts';
import { gpuOrSkip } from '../helpers/gpu.ts';

const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const TSC = path.join(PACKAGE_ROOT, 'node_modules', '.bin', 'tsc');
const version = (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

function run(cmd: string, args: string[], cwd: string, timeout = 600_000): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout, env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' } });
  if (r.error) throw r.error;
  return r;
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  expect(r.status, `${what} exited ${r.status}\n${r.stdout}\n${r.stderr}`).toBe(0);
  return r.stdout;
}

/** The ```ts blocks of docs/api.md that start with `// example: NAME`. */
export function apiExamples(markdown: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of markdown.matchAll(/```ts\n\/\/ example: ([a-z-]+)\n([\s\S]*?)```/g)) out.set(m[1]!, m[2]!);
  return out;
}

/** What each example must print (and, for `run`, write). */
const EXPECTED: Record<string, { gpu: boolean; stdout: RegExp[] }> = {
  compile: { gpu: false, stdout: [/10 steps, FLOPs 0\.\d\d of no cache, predicted 1\.\d\dx/, /fora\(N=2\): predicted 1\.\d\dx/] },
  'user-model': { gpu: false, stdout: [/DiT-Mini: \d+ distinct step bodies, predicted \d\.\d\dx/] },
  errors: { gpu: false, stdout: [/E_CHECK at line 4: .*unknown node `blocks\[\*\]\.mpl`/, /did you mean `blocks\[\*\]\.mlp`/, /E_IO: .*no-such-weights\.safetensors/] },
  run: { gpu: true, stdout: [/latents \[2, 1, 28, 28\] in \d+\.\d\d s on /, /step 10\/10/, /wrote image-0\.png, image-1\.png and grid\.png/] },
  noise: { gpu: true, stdout: [/supplied = seeded: true/, /changed x_T, changed image: true/] },
  cancel: { gpu: true, stdout: [/cancelled: the run was cancelled: enough/, /the runner still works: \[1, 1, 28, 28\]/] },
  adapter: { gpu: true, stdout: [/adapter: .+ \(\w+(, software)?\), shader-f16 (true|false)/, /same noise: max \|difference\| \d+\.\d{3}/] },
};

const gpu = await gpuOrSkip();

describe('the packed tarball, installed into an empty folder', () => {
  const work = mkdtempSync(path.join(tmpdir(), 'ditto-package-'));
  const app = path.join(work, 'app');
  const examples = apiExamples(readFileSync(path.join(PACKAGE_ROOT, 'docs', 'api.md'), 'utf8'));
  let files: { path: string; size: number }[] = [];
  let tarball = '';

  beforeAll(() => {
    const pack = JSON.parse(ok(run(NPM, ['pack', '--json', '--pack-destination', work], PACKAGE_ROOT), 'npm pack')) as { filename: string; size: number; files: { path: string; size: number }[] }[];
    files = pack[0]!.files;
    tarball = path.join(work, pack[0]!.filename);
    console.log(`ditto tarball: ${(pack[0]!.size / 1e6).toFixed(2)} MB, ${files.length} files`);
    mkdirSync(app);
    writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    ok(run(NPM, ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund', '--no-package-lock'], app), 'npm install of the tarball');
    // The examples as a user's TypeScript project would hold them, compiled with tsc to plain JavaScript.
    mkdirSync(path.join(app, 'src'));
    for (const [name, code] of examples) writeFileSync(path.join(app, 'src', `${name}.ts`), code);
    writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2023'], strict: true,
        // @webgpu/types assumes the DOM library; the user's own code is still checked in full.
        skipLibCheck: true,
        types: ['node'], typeRoots: [path.join(PACKAGE_ROOT, 'node_modules', '@types')],
        outDir: 'out', rootDir: 'src',
      },
      include: ['src'],
    }));
  }, 1_200_000);

  it('holds the compiled code, the models and weights, the docs text, and no sources, tests or tools', () => {
    const paths = files.map((f) => f.path);
    for (const p of ['dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'bin/ditto.js', 'models/fmnist.ditto', 'models/schedules/fora.ditto', 'models/weights/fmnist-dit.safetensors', 'models/fid/fmnist-classifier.safetensors', 'models/fid/fmnist-test-stats.safetensors', 'README.md', 'docs/api.md', 'package.json']) {
      expect(paths, p).toContain(p);
    }
    expect(paths.filter((p) => /^(test|tools|bench|grammar|compiler|runtime|core|cli)\//.test(p))).toEqual([]);
    expect(paths.filter((p) => p.endsWith('.ts') && !p.endsWith('.d.ts'))).toEqual([]);
    expect(paths.filter((p) => /golden|\.npz$|\.pt$/.test(p))).toEqual([]);
  });

  it('imports with plain node: the API and its version', () => {
    const out = ok(run(process.execPath, ['--input-type=module', '-e', "import * as d from 'ditto'; console.log(typeof d.compile, typeof d.createRunner, typeof d.DittoError, d.version())"], app), 'import');
    expect(out.trim()).toBe(`function function function ${version}`);
  }, 600_000);

  it('runs the CLI from the compiled code: --version, --help, check of a shipped file', () => {
    const bin = path.join(app, 'node_modules', '.bin', 'ditto');
    expect(ok(run(bin, ['--version'], app), 'ditto --version').trim()).toBe(version);
    expect(ok(run(bin, ['--help'], app), 'ditto --help')).toMatch(/demo \[options\]/);
    expect(ok(run(bin, ['check', 'node_modules/ditto/models/schedules/fora.ditto'], app), 'ditto check').trim()).toBe('ok');
    const bad = run(bin, ['check', 'missing.ditto'], app);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/^error\[E_[A-Z]+\]: /);
  }, 600_000);

  it('type-checks the examples of docs/api.md against the installed declarations', () => {
    expect([...examples.keys()].sort()).toEqual(Object.keys(EXPECTED).sort());
    ok(run(TSC, ['-p', app], app), 'tsc on the docs/api.md examples');
    for (const name of examples.keys()) expect(existsSync(path.join(app, 'out', `${name}.js`)), name).toBe(true);
  }, 600_000);

  for (const [name, want] of Object.entries(EXPECTED)) {
    it.skipIf(want.gpu && !gpu)(`runs the '${name}' example of docs/api.md with plain node`, () => {
      const cwd = path.join(work, `run-${name}`);
      mkdirSync(cwd);
      const out = ok(run(process.execPath, [path.join(app, 'out', `${name}.js`)], cwd), `example ${name}`);
      for (const re of want.stdout) expect(out).toMatch(re);
      if (name === 'run') {
        for (const f of ['image-0.png', 'image-1.png']) expect(PNG.sync.read(readFileSync(path.join(cwd, f))).width).toBe(28);
        expect(PNG.sync.read(readFileSync(path.join(cwd, 'grid.png'))).width).toBe(2 * 28 + 3 * 2);
      }
    }, 900_000);
  }
});
