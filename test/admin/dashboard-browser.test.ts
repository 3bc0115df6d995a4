/**
 * The dashboard in a real browser: Debian's chromium driven by playwright-core (no browser
 * download). Each test writes screenshots under test-results/ for a human to look at.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { LineClient } from '../support/line-client.js';
import { exchange, openClient, startInProcess, type InProcess } from './harness.js';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = 'test-results';
const missing = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} is not installed (apt-get install chromium; .ci/run installs it)`;
if (missing !== false) console.log(`# skipping the browser tests: ${missing}`);

/** What the page said that a test must see empty: errors, CSP refusals, dialogs (an XSS would alert). */
interface Watch {
  readonly problems: string[];
}

function watch(page: Page): Watch {
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || /Content Security Policy|Trusted Type/i.test(m.text()))
      problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('dialog', (d) => {
    problems.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  return { problems };
}

/** Sends protocol lines on one connection in a loop until stopped; resolves the replies count. */
async function driveTraffic(port: number, lines: readonly string[]): Promise<() => Promise<number>> {
  const socket = await openClient(port);
  const batch = lines.map((l) => `${l}\n`).join('');
  let replies = 0;
  let stopped = false;
  let inFlight = 0;
  socket.on('data', (chunk: Buffer) => {
    for (const byte of chunk) if (byte === 0x0a) replies++;
    if (replies >= inFlight && !stopped) send();
  });
  const send = (): void => {
    inFlight += lines.length;
    socket.write(batch);
  };
  send();
  return async () => {
    stopped = true;
    socket.end();
    await new Promise((resolve) => socket.once('close', resolve));
    return replies;
  };
}

describe('dashboard in chromium', { skip: missing }, () => {
  let browser: Browser;
  let s: InProcess;
  let context: BrowserContext;
  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    s = await startInProcess();
  });
  after(async () => {
    await browser.close();
    await s.close();
  });

  async function open(viewport = { width: 1280, height: 900 }): Promise<{ page: Page } & Watch> {
    context = await browser.newContext({ viewport });
    const page = await context.newPage();
    const w = watch(page);
    await page.goto(`http://127.0.0.1:${s.adminPort}/`);
    return { page, ...w };
  }

  test('the charts draw, then move with traffic on the protocol port', async () => {
    const { page, problems } = await open();
    try {
      await page.waitForSelector('body[data-charted="true"]');
      const firstChart = await page.evaluate(
        () => performance.getEntriesByName('pkgindex:first-chart')[0]?.startTime ?? null,
      );
      console.log(`# time to first chart: ${Math.round(firstChart ?? -1)} ms after navigation start`);
      const chart = page.locator('[data-chart="commands"] canvas');
      const quiet = await chart.screenshot();

      const stop = await driveTraffic(s.port, ['INDEX|a|', 'QUERY|a|', 'QUERY|b|']);
      try {
        // The requests/s tile shows the load within a sample or two.
        await page.waitForFunction(() => {
          const value = document.querySelector('[data-tile="requests/s"] .value')?.textContent ?? '0';
          return Number(value.replace(/,/g, '')) > 100;
        });
        await page.waitForFunction(
          (n) => Number(document.body.dataset.samples) >= n,
          Number(await page.evaluate(() => document.body.dataset.samples)) + 1,
        );
      } finally {
        await stop();
      }
      const busy = await chart.screenshot();
      assert.notDeepEqual(busy, quiet, 'the requests chart changed');
      await page.screenshot({ path: `${SHOTS}/dashboard-signals.png`, fullPage: true });
      assert.equal(await page.textContent('[data-tile="storage"] .value'), 'writable');
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('on a phone the page fits the screen without sideways scrolling', async () => {
    const { page, problems } = await open({ width: 390, height: 844 });
    try {
      await page.waitForSelector('body[data-charted="true"]');
      const overflow = await page.evaluate(
        () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
      );
      assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
      const canvasWidth = await page.locator('[data-chart="latency"] canvas').first().boundingBox();
      assert.ok(canvasWidth !== null && canvasWidth.width <= 390, JSON.stringify(canvasWidth));
      await page.screenshot({ path: `${SHOTS}/dashboard-phone.png`, fullPage: true });

      assert.deepEqual(await exchange(s.port, ['INDEX|zlib|', 'INDEX|libpng|zlib']), ['OK', 'OK']);
      await page.goto(`http://127.0.0.1:${s.adminPort}/#/package/libpng`);
      await page.waitForSelector('body[data-package="libpng"]');
      const packageOverflow = await page.evaluate(
        () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
      );
      assert.ok(packageOverflow <= 0, `the package page is ${packageOverflow}px wider than the screen`);
      await page.screenshot({ path: `${SHOTS}/dashboard-phone-package.png`, fullPage: true });
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('search a package, open its graph and walk to a dependency by clicking it', async () => {
    const graph = ['INDEX|libc|', 'INDEX|openssl|libc', 'INDEX|curl|openssl,libc', 'INDEX|git|curl,openssl'];
    assert.deepEqual(await exchange(s.port, graph), ['OK', 'OK', 'OK', 'OK']);
    const { page, problems } = await open();
    try {
      await page.click('nav a[data-view="packages"]');
      await page.fill('#prefix', 'cu');
      await page.click('#search button[type="submit"]');
      await page.waitForSelector('#results a');
      assert.deepEqual(await page.locator('#results a').allTextContents(), ['curl']);
      await page.click('#results a');
      await page.waitForSelector('body[data-package="curl"]');
      assert.deepEqual(await page.locator('#dependencies a').allTextContents(), ['openssl', 'libc']);
      assert.deepEqual(await page.locator('#dependents a').allTextContents(), ['git']);
      await page.screenshot({ path: `${SHOTS}/dashboard-package-curl.png`, fullPage: true });

      // Click openssl's node on the canvas, where cytoscape drew it.
      const container = page.locator('#graph');
      await container.scrollIntoViewIfNeeded();
      const box = (await container.boundingBox())!;
      const at = await page.evaluate(() => {
        const handle = (
          window as unknown as { pkgindexDashboard: { explorer: { graph: { core: unknown } } } }
        ).pkgindexDashboard.explorer.graph.core as {
          $id(id: string): { renderedPosition(): { x: number; y: number } };
        };
        return handle.$id('openssl').renderedPosition();
      });
      await page.mouse.click(box.x + at.x, box.y + at.y);
      await page.waitForSelector('body[data-package="openssl"]');
      assert.equal(await page.textContent('#package-name'), 'openssl');
      assert.match(page.url(), /#\/package\/openssl$/);
      // Why it is held: the shortest chain of dependents down to it.
      await page.waitForSelector('#why-chain a');
      assert.deepEqual(await page.locator('#why-chain a').allTextContents(), ['git', 'openssl']);
      await page.screenshot({ path: `${SHOTS}/dashboard-package-openssl.png`, fullPage: true });
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('a package with many dependents lists them a page at a time from the paginated route', async () => {
    const users = Array.from({ length: 250 }, (_, i) => `user${String(i).padStart(3, '0')}`);
    const lines = ['INDEX|hub|', ...users.map((u) => `INDEX|${u}|hub`)];
    assert.ok((await exchange(s.port, lines)).every((r) => r === 'OK'));
    const { page, problems } = await open();
    try {
      await page.goto(`http://127.0.0.1:${s.adminPort}/#/package/hub`);
      await page.waitForSelector('body[data-package="hub"]');
      const dependents = page.locator('#dependents a');
      assert.equal(await dependents.count(), 100);
      assert.deepEqual(await dependents.first().textContent(), 'user000');
      assert.match((await page.textContent('#package-facts')) ?? '', /250 direct dependents/);
      await page.click('#more-dependents');
      await page.waitForFunction(() => document.querySelectorAll('#dependents a').length === 200);
      await page.click('#more-dependents');
      await page.waitForFunction(() => document.querySelectorAll('#dependents a').length === 250);
      assert.deepEqual(await dependents.allTextContents(), users);
      assert.equal(await page.isHidden('#more-dependents'), true);
      await page.screenshot({ path: `${SHOTS}/dashboard-package-many-dependents.png`, fullPage: true });
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('a name made of HTML is shown as text, never run (XSS probe)', async () => {
    const probe = '<img src=x onerror=alert(1)>';
    const { page, problems } = await open();
    try {
      await page.goto(`http://127.0.0.1:${s.adminPort}/#/package/${encodeURIComponent(probe)}`);
      await page.waitForFunction(() => (document.getElementById('package-error')?.textContent ?? '') !== '');
      assert.equal(await page.textContent('#package-name'), probe);
      assert.equal(await page.locator('#view-package img').count(), 0, 'no element was made of the name');

      await page.goto(`http://127.0.0.1:${s.adminPort}/#/packages?prefix=${encodeURIComponent(probe)}`);
      await page.waitForFunction(() => (document.getElementById('search-note')?.textContent ?? '') !== '');
      assert.equal(await page.inputValue('#prefix'), probe);
      assert.equal(await page.locator('main img').count(), 0);
      await page.screenshot({ path: `${SHOTS}/dashboard-xss-probe.png`, fullPage: true });
      assert.deepEqual(
        problems.filter((p) => !/status of 404/.test(p)), // the probe is not indexed
        [],
      );
    } finally {
      await context.close();
    }
  });
});

describe('dashboard in chromium with an admin token', { skip: missing }, () => {
  test('the page asks for the token, keeps it for the tab and then streams', async () => {
    const token = 'browser-token-0123456789abcdef';
    const s = await startInProcess({ token });
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    try {
      const page = await browser.newPage();
      const { problems } = watch(page);
      await page.goto(`http://127.0.0.1:${s.adminPort}/`);
      await page.waitForSelector('#login:not([hidden])');
      assert.equal(await page.textContent('#status'), 'admin token needed');
      await page.fill('#token', token);
      await page.click('#login button[type="submit"]');
      await page.waitForSelector('body[data-charted="true"]');
      assert.equal(await page.evaluate(() => sessionStorage.getItem('pkgindex.adminToken')), token);
      // A reload in the same tab goes straight to the charts.
      await page.reload();
      await page.waitForSelector('body[data-charted="true"]');
      assert.equal(await page.isHidden('#login'), true);
      await page.screenshot({ path: `${SHOTS}/dashboard-token.png` });
      // The refused first attempt is the one expected 401.
      assert.deepEqual(
        problems.filter((p) => !/status of 401/.test(p)),
        [],
      );
    } finally {
      await browser.close();
      await s.close();
    }
  });
});

/**
 * Opens connections until one is served by a socket thread and one by the main thread (the
 * kernel picks). Each connection that lands where one is already kept is closed at once: the
 * harness's server takes 100 connections, and under load the kernel has handed more than that
 * in a row to one thread (CI: "connection closed after 0 of 1 replies", the 101st refused).
 */
async function oneOnEachThread(
  s: InProcess,
): Promise<{ main: LineClient; socket: LineClient; rest: LineClient[] }> {
  let main: LineClient | undefined;
  let socket: LineClient | undefined;
  for (let i = 0; i < 400 && (main === undefined || socket === undefined); i++) {
    const before = s.server.stats.connectionsTotal;
    const c = await LineClient.open(s.port);
    await c.request('QUERY|x|');
    const onMain = s.server.stats.connectionsTotal > before;
    if (onMain && main === undefined) main = c;
    else if (!onMain && socket === undefined) socket = c;
    else c.close();
  }
  assert.ok(main !== undefined && socket !== undefined, 'no connection on each thread in 400 tries');
  return { main, socket, rest: [] };
}

/** Sends QUERYs on `client` in batches until the returned function is called. */
function queryLoop(client: LineClient): () => Promise<void> {
  const state = { stopped: false };
  const batch = Array.from({ length: 50 }, () => 'QUERY|a|');
  const loop = (async () => {
    while (!state.stopped) await client.request(...batch);
  })();
  return async () => {
    state.stopped = true;
    await loop;
  };
}

describe('dashboard in chromium with --threads 2', { skip: missing }, () => {
  test('the charts move with traffic served by the socket thread, then by the main thread', async () => {
    const s = await startInProcess({ config: { threads: 2 } });
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    const { main, socket, rest } = await oneOnEachThread(s);
    for (const c of rest) c.close();
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const { problems } = watch(page);
      await page.goto(`http://127.0.0.1:${s.adminPort}/`);
      await page.waitForSelector('body[data-charted="true"]');
      const busyAbove = (n: number): Promise<unknown> =>
        page.waitForFunction(
          (min) =>
            Number(
              (document.querySelector('[data-tile="requests/s"] .value')?.textContent ?? '0').replace(
                /,/g,
                '',
              ),
            ) > min,
          n,
        );
      const quietBelow = (n: number): Promise<unknown> =>
        page.waitForFunction(
          (max) =>
            Number(
              (document.querySelector('[data-tile="requests/s"] .value')?.textContent ?? '0').replace(
                /,/g,
                '',
              ),
            ) < max,
          n,
        );
      const chart = page.locator('[data-chart="commands"] canvas');
      const mainBefore = s.server.stats.count('QUERY', 0) + s.server.stats.count('QUERY', 1);
      for (const [thread, client] of [
        ['socket thread', socket],
        ['main thread', main],
      ] as const) {
        await quietBelow(100);
        const quiet = await chart.screenshot();
        const stop = queryLoop(client);
        try {
          await busyAbove(100);
        } finally {
          await stop();
        }
        assert.notDeepEqual(
          await chart.screenshot(),
          quiet,
          `the requests chart moved with the ${thread}'s traffic`,
        );
        await page.screenshot({
          path: `${SHOTS}/dashboard-threads-${thread.split(' ')[0]!}.png`,
          fullPage: true,
        });
        if (thread === 'socket thread') {
          // Served there: the main thread's own server counted none of it.
          const mainNow = s.server.stats.count('QUERY', 0) + s.server.stats.count('QUERY', 1);
          assert.ok(mainNow - mainBefore < 100, `${mainNow - mainBefore} QUERYs on the main thread`);
        }
      }
      assert.deepEqual(problems, []);
    } finally {
      main.close();
      socket.close();
      await browser.close();
      await s.close();
    }
  });
});
