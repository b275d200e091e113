/**
 * The trace page in a real headless browser (Debian's chromium, driven by playwright-core): the
 * page that `client trace --html` writes draws its diagram, shows details on hover, throws no
 * script error and asks the network for nothing.
 *
 * Outside CI a machine without the browser skips this file and says so; under CI=true a missing
 * browser fails it (.ci/browser-setup.sh installs it).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Browser, type Page, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TraceFixture, writeTraceFixture } from '../unit/trace-fixtures.js';
import { BIN } from './harness.js';

const CHROMIUM = process.env.LL_CHROMIUM ?? '/usr/bin/chromium';
const IN_CI = process.env.CI === 'true';
const HAVE_BROWSER = existsSync(CHROMIUM);

if (!HAVE_BROWSER && !IN_CI) {
  console.log(`[trace-browser] SKIPPED: no browser at ${CHROMIUM}; install it with: bash .ci/browser-setup.sh (or set LL_CHROMIUM)`);
}

it.skipIf(HAVE_BROWSER || !IN_CI)('has a browser to run in under CI', () => {
  expect.fail(`CI=true and no browser at ${CHROMIUM}: .ci/browser-setup.sh must install Debian's chromium before the tests`);
});

describe.skipIf(!HAVE_BROWSER)('the trace page in a headless browser', () => {
  let fx: TraceFixture;
  let out: string;
  let html: string;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];
  const requests: string[] = [];

  beforeAll(async () => {
    fx = writeTraceFixture();
    out = mkdtempSync(path.join(os.tmpdir(), 'll-trace-browser-'));
    html = path.join(out, 'trace.html');
    const cli = spawnSync(process.execPath, [BIN, 'trace', ...fx.dirs, '--snapshot', fx.snapshotId, '--html', html], { encoding: 'utf8', timeout: 30_000 });
    if (cli.status !== 0) throw new Error(`client trace failed (${cli.status}): ${cli.stderr}`);
    expect(cli.stdout).toContain(`wrote ${html} (html)`);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      timeout: 30_000,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(pathToFileURL(html).href);
    await page.waitForSelector('html[data-ready="true"]', { timeout: 10_000 });
  });

  afterAll(async () => {
    await browser?.close();
    fx?.cleanup();
    if (out) rmSync(out, { recursive: true, force: true });
  });

  it('runs its script without errors and fetches nothing', () => {
    expect(problems).toEqual([]);
    expect(requests).toEqual([pathToFileURL(html).href]);
  });

  it('draws the diagram: arrows with length, the cut, the highlighted crossing messages', async () => {
    const sizes = async (selector: string): Promise<{ width: number; height: number }[]> =>
      Promise.all((await page.locator(selector).all()).map(async (l) => (await l.boundingBox()) ?? { width: 0, height: 0 }));
    const [svg] = await sizes('.diagram svg');
    expect(svg!.width).toBeGreaterThan(500);
    expect(svg!.height).toBeGreaterThan(200);
    const shafts = await sizes('g.msg[data-ref] line.shaft');
    expect(shafts).toHaveLength(fx.expected.messages);
    expect(shafts.every((b) => Math.hypot(b.width, b.height) > 10)).toBe(true);
    const [cut] = await sizes('g.cut polyline');
    expect(cut!.height).toBeGreaterThan(200);
    expect(await page.locator('g.msg.in-cut[data-ref]').count()).toBe(2);
    const events = await sizes('g.event[data-ref]');
    expect(events).toHaveLength(fx.events.length);
    expect(events.every((b) => b.width > 0 && b.height > 0)).toBe(true);
    expect(await page.locator('script[src], link[href], img[src], iframe').count()).toBe(0);
  });

  it('shows an event\'s details on hover, with its message lit up', async () => {
    await page.locator('g.event.k-record[data-node="1"]').hover();
    const details = await page.locator('#details').innerText();
    expect(details).toContain('recorded its state for snapshot 1.1');
    expect(details).toContain('vector clock');
    expect(details).toMatch(/client1:\d+ client2:\d+ client3:\d+/);
    expect(details).toContain('wall time');
    await page.locator('g.event.k-send[data-node="2"]').first().hover();
    expect(await page.locator('#details').innerText()).toContain('client2 sent REPLY ts=3 at #0 to client1');
    expect(await page.locator('g.msg.hovered').count()).toBe(1);
  });

  it('shows the snapshot table agreeing with the saved snapshot, and a legend', async () => {
    expect(await page.locator('section.snapshot').getAttribute('data-agreement')).toBe('agrees');
    expect(await page.locator('table.channels tbody tr').count()).toBe(2);
    expect(await page.locator('ul.legend li').count()).toBeGreaterThan(5);
    const png = await page.screenshot({ fullPage: true });
    expect(png.length).toBeGreaterThan(20_000);
  });
});

describe('client trace, the real binary', () => {
  it('exits 1 with one line on a bad source', () => {
    const missing = path.join(os.tmpdir(), `ll-no-such-dir-${process.pid}`);
    const r = spawnSync(process.execPath, [BIN, 'trace', missing], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`client trace: no such data dir or trace file: ${missing}\n`);
  });
});
