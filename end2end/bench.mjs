// The web in a real chromium, measured: a cold sign-in to a hydrated
// INBOX (bytes over the wire, milliseconds) and a live burst (how many
// requests an open INBOX makes while 500 messages arrive over IMAP).
// Run by end2end/bench, which builds the release binaries first; prints
// a Markdown table for docs/BENCHMARKS.md.
import { startServer, launchBrowser, hydrated, imapSession, mail, PASSWORD } from './tests/mailroom.mjs';

const ROUNDS = 5;
const BURST = 500;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Signs alice in on a browser with nothing cached; returns the bytes
 * received (headers and bodies as sent, compressed) and the time from
 * the sign-in click to the hydrated INBOX. */
async function coldSignIn(browser, server) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  const responses = [];
  page.on('requestfinished', (r) => responses.push(r.sizes().catch(() => null)));
  await page.goto(`${server.web}/login`);
  await page.fill('input[name=login]', 'alice');
  await page.fill('input[name=password]', PASSWORD);
  const start = performance.now();
  await page.click('button[type=submit]');
  await page.waitForURL(/\/mail/);
  await hydrated(page);
  const ms = performance.now() - start;
  const sizes = (await Promise.all(responses)).filter(Boolean);
  const bytes = sizes.reduce((sum, s) => sum + s.responseHeadersSize + s.responseBodySize, 0);
  await context.close();
  return { bytes, ms };
}

/** Requests an open INBOX makes while `BURST` messages arrive. */
async function burst(browser, server) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${server.web}/login`);
  await page.fill('input[name=login]', 'bob');
  await page.fill('input[name=password]', PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForURL(/\/mail/);
  await hydrated(page);
  let requests = 0;
  page.on('request', (r) => { if (!r.url().endsWith('/events')) requests += 1; });
  const imap = await imapSession(server.imap, 'bob');
  const start = performance.now();
  for (let n = 1; n <= BURST; n += 1) {
    await imap.append('INBOX', mail({ to: 'bob@example.com', subject: `Burst ${n}`, body: `Message ${n}.` }));
  }
  const appended = performance.now() - start;
  await page.waitForSelector(`.list-head:has-text("of ${BURST}")`, { timeout: 60000 });
  // Whatever is still on its way arrives within a second.
  await page.waitForTimeout(1000);
  imap.close();
  await context.close();
  return { requests, appended };
}

const server = await startServer();
const browser = await launchBrowser();
try {
  const cold = [];
  for (let i = 0; i < ROUNDS; i += 1) cold.push(await coldSignIn(browser, server));
  const live = await burst(browser, server);
  const kb = (b) => `${(b / 1024).toFixed(0)} KiB`;
  console.log('| Measure | Result |');
  console.log('|---|---|');
  console.log(`| Cold sign-in to a hydrated INBOX: bytes received (median of ${ROUNDS}) | ${kb(median(cold.map((c) => c.bytes)))} |`);
  console.log(`| Cold sign-in to a hydrated INBOX: time (median of ${ROUNDS}) | ${median(cold.map((c) => c.ms)).toFixed(0)} ms |`);
  console.log(`| Live burst: requests while ${BURST} messages arrive over IMAP (${(live.appended / 1000).toFixed(1)} s) | ${live.requests} |`);
} finally {
  await browser.close();
  await server.stop();
}
