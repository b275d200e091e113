/**
 * For the live view's tests: `client web` as a process (its address read from what it prints),
 * headless chromium as the trace page's test runs it, and the picture of the live view the docs
 * show (made by the guided demo on three real clients).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { BIN, ROOT, killAndWait, track, waitFor } from './harness.js';

export const CHROMIUM = process.env.LL_CHROMIUM ?? '/usr/bin/chromium';
export const IN_CI = process.env.CI === 'true';
export const HAVE_BROWSER = existsSync(CHROMIUM);

export interface WebProcess {
  readonly child: ChildProcess;
  readonly url: string;
  output(): string;
  stop(): Promise<void>;
}

/** `client web <args>`, resolved once it prints its address. */
export async function startWeb(args: readonly string[], cwd = ROOT): Promise<WebProcess> {
  const child = spawn(process.execPath, [BIN, 'web', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const url = await waitFor(`client web to print its address (it printed: ${out})`, () => /(http:\/\/\S+\/\S*)/.exec(out)?.[1] ?? (child.exitCode !== null ? Promise.reject(new Error(`client web exited: ${out}`)) : null), 15_000);
  return { child, url, output: () => out, stop: () => killAndWait(child, 'SIGTERM') };
}

export async function launchBrowser(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30_000,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** The page's document, as far as these tests use it (their own types know no DOM). */
type PageDocument = { querySelectorAll(selector: string): { length: number } };

/** Waits until `selector` matches exactly `count` elements (at least `count` with `atLeast`). */
export async function untilCount(page: Page, selector: string, count: number, o: { atLeast?: boolean; timeout?: number } = {}): Promise<void> {
  await page.waitForFunction(
    ({ selector, count, atLeast }) => {
      const n = (globalThis as unknown as { document: PageDocument }).document.querySelectorAll(selector).length;
      return atLeast ? n >= count : n === count;
    },
    { selector, count, atLeast: o.atLeast === true },
    { timeout: o.timeout ?? 15_000 },
  );
}

/** Until every client's lane says it is connected. */
export const untilConnected = (page: Page, n = 3): Promise<void> => untilCount(page, '.lane-info[data-connected="true"]', n, { timeout: 15_000 });

/** A page on `url` that collects every script error and console error or warning into `problems`. */
export async function openPage(browser: Browser, url: string, problems: string[], viewport = { width: 1500, height: 950 }): Promise<Page> {
  const page = await browser.newPage({ viewport });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  await page.goto(url);
  await page.waitForSelector('html[data-ready="true"]', { timeout: 15_000 });
  return page;
}

/**
 * The docs' picture of the live view: the guided demo run to its end on the page at `url`
 * (three clients already connected), the whole page as a PNG.
 */
export async function captureLiveView(url: string, target: string): Promise<void> {
  const browser = await launchBrowser();
  try {
    const problems: string[] = [];
    const page = await openPage(browser, url, problems, { width: 1440, height: 1250 });
    await untilConnected(page);
    await page.click('[data-action="demo"]');
    await page.waitForSelector('#demo[data-done="true"]', { timeout: 60_000 });
    await page.waitForSelector('.snapshot [data-verdict]', { timeout: 15_000 });
    await page.click('[data-action="fit"]');
    await page.waitForTimeout(500);
    // Point at the message the snapshot caught in flight, so the picture shows its details.
    const received = await page.locator('g.msg.recorded').first().getAttribute('data-receive');
    if (received !== null) await page.locator(`g.ev[data-id="${received}"]`).hover();
    await page.screenshot({ path: target, fullPage: true });
    if (problems.length > 0) throw new Error(`the live view had problems while it was pictured: ${problems.join('; ')}`);
  } finally {
    await browser.close();
  }
}
