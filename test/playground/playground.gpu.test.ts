/**
 * The playground in a real browser (Debian's chromium, WebGPU on SwiftShader): the page loads with
 * an adapter, a typo is a diagnostic at its line, an edit changes the heatmap and the predicted
 * speed-up, Generate makes the same images as Node's runtime running the same plans and seed, and
 * nothing is logged as an error. Generate is kept small (2 images, 4 steps): SwiftShader is slow,
 * and the full-size timing is a measurement (docs/playground.md), not a test.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Server } from 'node:http';
import type { Browser, Page } from 'puppeteer-core';
import { buildPlayground } from '../../playground/build.ts';
import { serveFolder } from '../../playground/serve.ts';
import { chromiumOrSkip, launchChromium } from '../helpers/chromium.ts';
import { gpuOrSkip } from '../helpers/gpu.ts';
import { createRunner, loadPlan } from '../../index.ts';
import { loadWeights } from '../../runtime/weights/index.ts';
import { psnr } from '../../evaluation/metrics/fidelity.ts';
import { tensor } from '../../core/tensor.ts';

const bin = chromiumOrSkip();
const gpu = bin ? await gpuOrSkip() : undefined;
const SLOW = 1_200_000;
/** The checker and compiler answer an edit within seconds; minutes only on a very busy machine. */
const EDIT = 300_000;

interface PageResult {
  seconds: { baseline: number; cached: number };
  speedup: number;
  psnr: number;
  accuracy: { baseline: number; cached: number };
  baseline: { plan: unknown; images: number[]; shape: number[] };
  cached: { plan: unknown; images: number[]; shape: number[] };
  seed: number;
}
interface PageApi {
  ready: boolean;
  adapter?: string;
  analysis?: { source?: string; schedule?: string; predictedSpeedup?: number; svg?: string; diagnostics: { line?: number; column?: number; message: string; severity: string }[] };
  result?: PageResult;
  error?: string;
  setText: (t: string) => void;
}
declare const window: { __ditto: PageApi };

const fora = readFileSync(path.resolve('models/schedules/fora.ditto'), 'utf8');
const b64 = (t: string) => Buffer.from(t, 'utf8').toString('base64url');

describe.skipIf(!bin || !gpu)('playground in chromium', () => {
  let dir: string;
  let server: Server;
  let origin: string;
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'ditto-playground-'));
    await buildPlayground(path.join(dir, 'site'));
    server = await serveFolder(path.join(dir, 'site'), 0);
    const addr = server.address();
    origin = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    browser = await launchChromium(bin!, origin);
    page = await browser.newPage();
    page.on('console', (m) => m.type() === 'error' && errors.push(`console: ${m.text()}`));
    page.on('pageerror', (e) => errors.push(`page: ${(e as Error).message}`));
    page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()}`));
    page.on('response', (r) => r.status() >= 400 && errors.push(`HTTP ${r.status()}: ${r.url()}`));
    // The small Generate of this suite: fora(N=3) on 2 images × 4 steps, seed 7.
    await page.goto(`${origin}/#name=fora&steps=4&images=2&seed=7&src=${b64(fora)}`);
    await page.waitForFunction(() => window.__ditto?.ready, { timeout: SLOW });
  }, SLOW);

  afterAll(async () => {
    await browser?.close();
    server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  // The analysis of exactly this text: a lint of an earlier text (typed a key at a time) may still
  // land after the edit on a busy machine, so "the analysis changed" is not enough.
  const analysisAfter = async (text: string) => {
    await page.evaluate((t) => window.__ditto.setText(t), text);
    await page.waitForFunction((t) => window.__ditto.analysis?.source === t, { timeout: EDIT, polling: 100 }, text);
    return (await page.evaluate(() => window.__ditto.analysis))!;
  };

  it('loads with a WebGPU adapter, the schedule from the URL, its heatmap and its predicted speed-up', async () => {
    const api = await page.evaluate(() => ({ adapter: window.__ditto.adapter, analysis: window.__ditto.analysis }));
    expect(api.adapter).toBeTruthy();
    expect(api.analysis?.schedule).toBe('fora');
    expect(api.analysis?.diagnostics).toEqual([]);
    expect(api.analysis?.predictedSpeedup).toBeGreaterThan(1);
    expect(await page.$eval('#heatmap svg', (e) => e.querySelectorAll('rect').length)).toBeGreaterThan(4);
    expect(await page.$eval('#generate', (b) => (b as HTMLButtonElement).disabled)).toBe(false);
    expect(await page.$eval('#gpu-message', (e) => (e as HTMLElement).hidden)).toBe(true);
  }, SLOW);

  it('a typo typed into the editor is a diagnostic at its line, marked in the editor', async () => {
    const lines = fora.split('\n');
    const at = lines.findIndex((l) => l.includes('blocks[*].attn, blocks[*].mlp reuse'));
    lines[at] = lines[at]!.replace('reuse', 'reuze');
    const a = await analysisAfter(lines.join('\n'));
    const errs = a.diagnostics.filter((d) => d.severity === 'error');
    expect(errs.length).toBeGreaterThan(0);
    expect(errs[0]!.line).toBe(at + 1);
    await page.waitForSelector('.cm-lintRange-error', { timeout: EDIT });
    const marked = await page.$$eval('.cm-lintRange-error', (els) => els.map((e) => e.textContent));
    expect(marked.join(' ')).toContain('reuze');
    expect(await page.$eval('#generate', (b) => (b as HTMLButtonElement).disabled)).toBe(true);
    // Typed with the keyboard at the end of the document: the checker answers as the user types.
    await analysisAfter(fora);
    await page.bringToFront();
    await page.focus('.cm-content');
    await page.keyboard.down('Control');
    await page.keyboard.press('End');
    await page.keyboard.up('Control');
    const before = await page.evaluate(() => JSON.stringify(window.__ditto.analysis));
    await page.keyboard.type('\nschedul');
    await page.waitForFunction((b) => JSON.stringify(window.__ditto.analysis) !== b, { timeout: EDIT, polling: 100 }, before);
    const typed = (await page.evaluate(() => window.__ditto.analysis))!.diagnostics.filter((d) => d.severity === 'error');
    expect(typed[0]?.line).toBe(fora.split('\n').length + 1);
  }, SLOW);

  it('editing the schedule changes the heatmap and the predicted speed-up', async () => {
    const heatmap = () => page.$eval('#heatmap svg', (e) => e.outerHTML);
    const n3 = await analysisAfter(fora);
    const drawn3 = await heatmap();
    const n2 = await analysisAfter(fora.replace('schedule fora(N = 3)', 'schedule fora(N = 2)'));
    expect(n3.diagnostics).toEqual([]);
    expect(n2.diagnostics).toEqual([]);
    expect(n2.svg).not.toBe(n3.svg);
    expect(n2.predictedSpeedup).not.toBe(n3.predictedSpeedup);
    // N = 2 computes more often than N = 3, so it is predicted to be slower.
    expect(n2.predictedSpeedup!).toBeLessThan(n3.predictedSpeedup!);
    expect(await heatmap()).not.toBe(drawn3);
    const url = new URL(page.url());
    expect(Buffer.from(new URLSearchParams(url.hash.slice(1)).get('src')!, 'base64url').toString('utf8')).toContain('fora(N = 2)');
    await analysisAfter(fora);
  }, SLOW);

  it('Generate makes the images Node makes from the same plans and seed', async () => {
    await page.click('#generate');
    await page.waitForFunction(() => window.__ditto.result || window.__ditto.error, { timeout: SLOW, polling: 500 });
    const { result, error } = await page.evaluate(() => ({ result: window.__ditto.result, error: window.__ditto.error }));
    expect(error).toBeUndefined();
    const r = result!;
    expect(r.seed).toBe(7);
    expect(r.seconds.baseline).toBeGreaterThan(0);
    expect(r.seconds.cached).toBeGreaterThan(0);
    expect(r.accuracy.baseline).toBeGreaterThanOrEqual(0);
    expect(await page.$eval('#cached-grid', (c) => (c as HTMLCanvasElement).width)).toBeGreaterThan(0);
    const weights = loadWeights(path.resolve('models/weights/fmnist-dit.safetensors')).tensors;
    for (const row of [r.baseline, r.cached]) {
      const plan = loadPlan(JSON.stringify(row.plan));
      expect(plan.options.steps).toBe(4);
      expect(plan.options.batch).toBe(2);
      const runner = await createRunner(plan, weights, { gpu: gpu! });
      const node = (await runner.run({ seed: 7 })).latents;
      runner.destroy();
      const web = tensor(row.shape, Float32Array.from(row.images));
      const identical = node.data.every((v, i) => Object.is(v, web.data[i]));
      // Bit-identical, or (where the two adapters' kernels round differently) PSNR ≥ 60 dB.
      console.info(`playground vs Node, ${plan.schedule.name}: ${identical ? 'bit-identical' : `PSNR ${psnr(web, node).toFixed(1)} dB`}`);
      if (!identical) expect(psnr(web, node)).toBeGreaterThanOrEqual(60);
    }
  }, SLOW);

  it('logs no console errors, failed requests or page errors', () => {
    expect(errors).toEqual([]);
  });

  it('works offline once loaded: the page from the service worker, the weights from Cache Storage', async () => {
    await page.evaluate(async () => {
      await navigator.serviceWorker.ready;
    });
    await page.setOfflineMode(true);
    try {
      await page.reload();
      await page.waitForFunction(() => window.__ditto?.ready, { timeout: SLOW });
      const a = await page.evaluate(() => window.__ditto.analysis);
      expect(a?.schedule).toBe('fora');
      expect(a?.predictedSpeedup).toBeGreaterThan(1);
      expect(await page.evaluate(async () => Boolean(await caches.match('weights/fmnist-dit.safetensors')))).toBe(true);
    } finally {
      await page.setOfflineMode(false);
    }
  }, SLOW);

  it('says what to enable when the browser has no WebGPU', async () => {
    const p = await browser.newPage();
    try {
      await p.evaluateOnNewDocument(() => {
        delete (Navigator.prototype as { gpu?: unknown }).gpu;
      });
      await p.goto(`${origin}/`);
      await p.waitForFunction(() => window.__ditto?.ready, { timeout: SLOW });
      const text = await p.$eval('#gpu-message', (e) => ((e as HTMLElement).hidden ? '' : e.textContent ?? ''));
      expect(text).toMatch(/no WebGPU/);
      expect(text).toMatch(/enable-unsafe-webgpu/);
      expect(await p.$eval('#generate', (b) => (b as HTMLButtonElement).disabled)).toBe(true);
      // The checker and the heatmap still work without a GPU.
      expect(await p.$eval('#heatmap svg', (e) => e.querySelectorAll('rect').length)).toBeGreaterThan(4);
    } finally {
      await p.close();
    }
  }, SLOW);
});
