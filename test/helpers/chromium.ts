/**
 * The browser gate for playground suites: Debian's `chromium` driven by puppeteer-core (no browser
 * download), with WebGPU on SwiftShader (`--enable-unsafe-webgpu`; docs/playground.md). Without
 * chromium the suite is skipped loudly; under CI=true that is a failure. About one launch in
 * fifteen gets no adapter, so a launch is retried once when requestAdapter() returns null.
 */
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { it } from 'vitest';
import puppeteer, { type Browser } from 'puppeteer-core';
import { inCI } from './gpu.ts';

export const CHROMIUM_FLAGS = ['--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking', '--no-first-run', '--no-default-browser-check', '--disable-component-update', '--disable-sync', '--metrics-recording-only'];

export function findChromium(): string | undefined {
  if (process.env.CHROMIUM_PATH && existsSync(process.env.CHROMIUM_PATH)) return process.env.CHROMIUM_PATH;
  for (const p of ['/usr/bin/chromium', '/usr/bin/chromium-browser']) if (existsSync(p)) return p;
  try {
    return execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The chromium binary, or undefined after registering the loud skip (or the CI failure). */
export function chromiumOrSkip(): string | undefined {
  const bin = findChromium();
  if (!bin) {
    const why = 'chromium is not installed (Debian: apt-get install chromium); the playground browser tests need it';
    if (inCI()) {
      it('has chromium (CI=true requires it)', () => {
        throw new Error(`CI=true but ${why}`);
      });
    } else console.warn('\n' + '!'.repeat(78) + `\n!! BROWSER TESTS SKIPPED: ${why}\n` + '!'.repeat(78) + '\n');
  }
  return bin;
}

async function hasAdapter(browser: Browser, origin: string): Promise<boolean> {
  const page = await browser.newPage();
  try {
    await page.goto(`${origin}/build.json`, { waitUntil: "domcontentloaded" });
    return await page.evaluate(async () => Boolean(await (navigator as Navigator & { gpu?: GPU }).gpu?.requestAdapter()));
  } finally {
    await page.close();
  }
}

/** Launches chromium with WebGPU; relaunches once when the first launch has no adapter. */
export async function launchChromium(bin: string, origin: string): Promise<Browser> {
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  for (let attempt = 1; ; attempt++) {
    const browser = await puppeteer.launch({ executablePath: bin, headless: true, args: CHROMIUM_FLAGS, protocolTimeout: 1_200_000, env: { ...process.env } });
    if (attempt === 2 || (await hasAdapter(browser, origin))) return browser;
    await browser.close();
  }
}
