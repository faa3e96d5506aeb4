// Starting a real Mailroom for the browser tests, and talking to it the
// way other clients do (IMAP), so the tests can change mail behind the
// browser's back.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import net from 'node:net';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const binary = process.env.MAILROOM_BIN || join(root, 'target', 'debug', 'mailroom');
export const output = join(root, 'end2end', 'output');
export const PASSWORD = 'correct horse battery';

/** Runs the mailroom CLI on the test's data directory. */
function cli(data, args, input) {
  return execFileSync(binary, ['--data', data, ...args], { input, encoding: 'utf8', env: ownEnvironment() });
}

/** This process's environment without Mailroom's own settings, so an
 * exported database URL or relay cannot send the test server elsewhere. */
function ownEnvironment() {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('MAILROOM_')));
}

/** Starts `mailroom serve` on free ports with accounts alice, bob, carol and dave (and admin). */
export async function startServer() {
  const data = mkdtempSync(join(tmpdir(), 'mailroom-e2e-'));
  const child = spawn(binary, ['--data', data, 'serve', '--domain', 'example.com',
    '--http', '127.0.0.1:0', '--imap', '127.0.0.1:0', '--imaps', '127.0.0.1:0',
    '--pop3', '127.0.0.1:0', '--pop3s', '127.0.0.1:0', '--lmtp', '127.0.0.1:0'], {
    env: { ...ownEnvironment(), MAILROOM_ADMIN_PASSWORD: PASSWORD, MAILROOM_SITE_ROOT: join(root, 'target', 'site') },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const printed = await new Promise((resolve, reject) => {
    let text = '';
    child.stdout.on('data', (chunk) => {
      text += chunk;
      if (/LMTP: .*\n/.test(text)) resolve(text);
    });
    child.on('exit', (code) => reject(new Error(`mailroom serve exited with ${code}: ${text}`)));
  });
  const web = printed.match(/Web: (http:\/\/[^/\s]+)/)[1];
  const imap = printed.match(/IMAP: ([\d.]+):(\d+)/);
  const lmtp = printed.match(/LMTP: ([\d.]+):(\d+)/);
  for (const user of ['alice', 'bob', 'carol', 'dave']) {
    cli(data, ['account', 'add', `${user}@example.com`, '--password-stdin'], `${PASSWORD}\n`);
  }
  mkdirSync(output, { recursive: true });
  return {
    web,
    imap: { host: imap[1], port: Number(imap[2]) },
    lmtp: { host: lmtp[1], port: Number(lmtp[2]) },
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      rmSync(data, { recursive: true, force: true });
    },
  };
}

/** Debian's chromium, headless, without the network chatter this machine refuses. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** A signed-in page for `user`, with the browser code running. */
export async function signIn(browser, server, user, viewport = { width: 1400, height: 900 }, timezoneId = 'UTC') {
  const context = await browser.newContext({ viewport, timezoneId });
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') page.errors.push(`console: ${m.text()}`); });
  page.on('dialog', (d) => { page.errors.push(`dialog: ${d.message()}`); d.dismiss(); });
  await page.goto(`${server.web}/mail`);
  await page.waitForURL(/\/login/);
  await page.fill('input[name=login]', user);
  await page.fill('input[name=password]', PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForURL(/\/mail/);
  await hydrated(page);
  return page;
}

/** Waits until the page's browser code has taken over (and, on mail
 * pages, the server's change events flow to it). */
export async function hydrated(page) {
  await page.waitForSelector('body[data-hydrated=true]');
}

/** An IMAP session: one command at a time, answers read to the tagged line. */
export async function imapSession({ host, port }, user) {
  const socket = net.connect(port, host);
  let buffer = '';
  const waiters = [];
  socket.setEncoding('utf8');
  socket.on('data', (d) => {
    buffer += d;
    while (waiters.length && waiters[0].test(buffer)) waiters.shift().resolve();
  });
  const until = (re) => new Promise((resolve) => {
    if (re.test(buffer)) return resolve();
    waiters.push({ test: (b) => re.test(b), resolve });
  });
  await until(/\* OK.*\r\n/);
  let n = 0;
  const command = async (text) => {
    const tag = `t${++n}`;
    buffer = '';
    socket.write(`${tag} ${text}\r\n`);
    await until(new RegExp(`^${tag} (OK|NO|BAD).*\\r\\n`, 'm'));
    const reply = buffer;
    if (!new RegExp(`^${tag} OK`, 'm').test(reply)) throw new Error(`IMAP ${text.slice(0, 40)}: ${reply}`);
    return reply;
  };
  await command(`LOGIN ${user} "${PASSWORD}"`);
  return {
    command,
    /** APPEND with a LITERAL+ literal. */
    append: (mailbox, message) => {
      const bytes = Buffer.byteLength(message);
      return command(`APPEND ${mailbox} {${bytes}+}\r\n${message}`);
    },
    close: () => { socket.end('z LOGOUT\r\n'); },
  };
}

/** Delivers `message` to `to` over LMTP, as an MTA would; returns the
 * reply to the data (one recipient). */
export async function lmtpDeliver({ host, port }, to, message, from = 'dave@example.org') {
  const socket = net.connect(port, host);
  socket.setEncoding('utf8');
  let buffer = '';
  let wake = () => {};
  socket.on('data', (d) => { buffer += d; wake(); });
  const reply = async () => {
    while (!/^\d{3} .*\r\n/m.test(buffer)) await new Promise((r) => { wake = r; });
    const line = buffer.match(/^\d{3} .*\r\n/m)[0];
    buffer = buffer.slice(buffer.indexOf(line) + line.length);
    return line.trim();
  };
  const send = async (text, expect) => {
    socket.write(text);
    const r = await reply();
    if (!r.startsWith(expect)) throw new Error(`LMTP ${text.slice(0, 30)}: ${r}`);
    return r;
  };
  await reply();
  await send('LHLO e2e.example\r\n', '250');
  await send(`MAIL FROM:<${from}>\r\n`, '250');
  await send(`RCPT TO:<${to}>\r\n`, '250');
  await send('DATA\r\n', '354');
  const answer = await send(`${message.replace(/^\./mg, '..')}\r\n.\r\n`, '250');
  socket.end('QUIT\r\n');
  return answer;
}

/** A message in RFC 5322 form with CRLF line ends. */
export function mail({ from = 'Dave <dave@example.org>', to = 'alice@example.com', subject, body, headers = '' }) {
  return `From: ${from}\r\nTo: ${to}\r\nSubject: ${subject}\r\nDate: Fri, 27 Nov 2026 09:30:00 +0000\r\n`
    + `Message-ID: <${Math.random().toString(36).slice(2)}@example.org>\r\n${headers}\r\n${body.replace(/\n/g, '\r\n')}\r\n`;
}

/** A web server that counts the requests it gets: a stand-in for a tracker. */
export async function tracker() {
  let hits = 0;
  const server = http.createServer((req, res) => {
    hits += 1;
    res.writeHead(200, { 'content-type': 'image/gif' });
    res.end(Buffer.from('R0lGODlhAQABAAAAACw=', 'base64'));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    hits: () => hits,
    close: () => new Promise((r) => server.close(r)),
  };
}
