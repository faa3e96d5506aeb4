// The settings page: name and signature in the mail people send, the
// time zone dates are shown in, the password, a vacation auto-reply and
// forwarding — each checked in chromium and through the other gateways.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  startServer, launchBrowser, signIn, hydrated, imapSession, lmtpDeliver, mail, output, PASSWORD,
} from './mailroom.mjs';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const shot = (page, name) => page.screenshot({ path: join(output, `${name}.png`), fullPage: true });

/** The headers and text of the newest message in `user`'s mailbox. */
async function newest(user, mailbox = 'INBOX') {
  const imap = await imapSession(server.imap, user);
  try {
    const selected = await imap.command(`EXAMINE ${mailbox}`);
    const exists = Number(selected.match(/\* (\d+) EXISTS/)[1]);
    if (exists === 0) return '';
    return await imap.command(`FETCH ${exists} BODY.PEEK[]`);
  } finally {
    imap.close();
  }
}

/** How many messages `user`'s mailbox holds. */
async function count(user, mailbox = 'INBOX') {
  const imap = await imapSession(server.imap, user);
  try {
    return Number((await imap.command(`STATUS ${mailbox} (MESSAGES)`)).match(/MESSAGES (\d+)/)[1]);
  } finally {
    imap.close();
  }
}

async function eventually(check, what) {
  const deadline = Date.now() + 30000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('name, signature and time zone: mail goes out as "Alice Smith", signed, and dates follow the chosen zone', async () => {
  const page = await signIn(browser, server, 'alice');
  await page.click('#settings-link');
  await page.waitForURL(/\/settings/);
  await hydrated(page);
  await page.fill('#display-name', 'Alice Smith');
  await page.fill('#signature', 'Alice Smith\nSupport team');
  await page.selectOption('#time-zone', 'Asia/Tokyo');
  await page.click('#save-profile');
  await page.waitForSelector('.alert.notice:has-text("Settings saved.")');
  assert.equal(await page.inputValue('#display-name'), 'Alice Smith');
  assert.equal(await page.inputValue('#time-zone'), 'Asia/Tokyo');
  await page.waitForSelector('#from-example:has-text("Alice Smith <alice@example.com>")');
  await shot(page, '40-settings');

  await page.goto(`${server.web}/compose`);
  await hydrated(page);
  assert.match(await page.inputValue('#body'), /^\n\n-- \nAlice Smith\nSupport team$/);
  await page.fill('#to', 'bob@example.com');
  await page.fill('#subject', 'Signed');
  await page.locator('#body').press('Control+Home');
  await page.locator('#body').pressSequentially('Hello Bob.');
  await page.click('#send');
  await page.waitForSelector('.alert.notice');
  const got = await newest('bob');
  assert.match(got, /From: "Alice Smith" <alice@example\.com>/);
  assert.match(got, /Hello Bob\.\r\n\r\n--(?: |=20)\r\nAlice Smith\r\nSupport team/, 'the signature after its separator (quoted-printable keeps its space as =20)');

  // A message dated 20:00 UTC reads as 05:00 the next day in Tokyo,
  // although this browser's own clock says UTC.
  const imap = await imapSession(server.imap, 'alice');
  await imap.append('INBOX', mail({ subject: 'Evening in London', body: 'x' }).replace(
    'Date: Fri, 27 Nov 2026 09:30:00 +0000', 'Date: Fri, 27 Nov 2026 20:00:00 +0000'));
  imap.close();
  await page.goto(`${server.web}/mail`);
  await hydrated(page);
  await page.locator('.msg-row', { hasText: 'Evening in London' }).locator('a').click();
  await page.waitForSelector('.headers dd:has-text("Sat, 28 Nov 2026 05:00 JST")');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('changing the password needs the current one and ends the other sign-ins', async () => {
  const elsewhere = await signIn(browser, server, 'carol');
  const page = await signIn(browser, server, 'carol');
  await page.goto(`${server.web}/settings`);
  await hydrated(page);
  await page.fill('#current-password', 'not my password');
  await page.fill('#new-password', 'a new long password');
  await page.fill('#repeat-password', 'a new long password');
  await page.click('#change-password');
  await page.waitForSelector('.alert.error:has-text("current password is not right")');
  await assert.doesNotReject(imapSession(server.imap, 'carol').then((s) => s.close()), 'a refused change changed it');

  await page.fill('#current-password', PASSWORD);
  await page.fill('#new-password', 'a new long password');
  await page.fill('#repeat-password', 'a new long password');
  await page.click('#change-password');
  await page.waitForSelector('.alert.notice:has-text("Password changed")');
  // This sign-in goes on; the other one is over.
  await page.goto(`${server.web}/mail`);
  await hydrated(page);
  assert.match(page.url(), /\/mail/);
  await elsewhere.goto(`${server.web}/mail`);
  await elsewhere.waitForURL(/\/login/);
  await assert.rejects(imapSession(server.imap, 'carol'), /NO/, 'the old password still works');
  await page.context().close();
  await elsewhere.context().close();
});

test('a vacation reply answers each sender once, and never a list', async () => {
  const page = await signIn(browser, server, 'bob');
  await page.goto(`${server.web}/settings`);
  await hydrated(page);
  await page.check('#vacation-on');
  await page.fill('#vacation-text', 'I am away until Monday.');
  await page.fill('#vacation-days', '3');
  await page.click('#save-vacation');
  await page.waitForSelector('.alert.notice:has-text("Vacation auto-reply on.")');
  assert.ok(await page.isChecked('#vacation-on'));
  assert.equal(await page.inputValue('#vacation-text'), 'I am away until Monday.');

  const before = await count('dave');
  await lmtpDeliver(server.lmtp, 'bob@example.com', mail({ from: 'dave@example.com', to: 'bob@example.com', subject: 'Lunch?', body: 'x' }), 'dave@example.com');
  await eventually(async () => (await count('dave')) === before + 1, 'dave got a reply');
  const reply = await newest('dave');
  assert.match(reply, /Subject: Auto: Lunch\?/);
  assert.match(reply, /Auto-Submitted: auto-replied/);
  assert.match(reply, /I am away until Monday\./);

  // Again from dave, and from a mailing list: no further replies. A
  // message after both proves they were handled.
  const alice = await count('alice');
  await lmtpDeliver(server.lmtp, 'bob@example.com', mail({ from: 'dave@example.com', to: 'bob@example.com', subject: 'Still lunch?', body: 'x' }), 'dave@example.com');
  await lmtpDeliver(server.lmtp, 'bob@example.com', mail({ from: 'alice@example.com', to: 'bob@example.com', subject: 'List post', body: 'x', headers: 'List-Id: <team.example.com>\r\n' }), 'alice@example.com');
  await lmtpDeliver(server.lmtp, 'bob@example.com', mail({ from: 'alice@example.com', to: 'bob@example.com', subject: 'From alice', body: 'x' }), 'alice@example.com');
  await eventually(async () => /Auto: From alice/.test(await newest('alice')), 'alice got a reply');
  assert.equal(await count('dave'), before + 1, 'dave was answered twice');
  assert.equal(await count('alice'), alice + 1, 'the list post was answered');

  await page.uncheck('#vacation-on');
  await page.click('#save-vacation');
  await page.waitForSelector('.alert.notice:has-text("Vacation auto-reply off.")');
  assert.equal(await page.isChecked('#vacation-on'), false);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('forwarding sends incoming mail on to another local address, keeping a copy if asked', async () => {
  const page = await signIn(browser, server, 'dave');
  await page.goto(`${server.web}/settings`);
  await hydrated(page);
  await page.check('#forward-on');
  await page.fill('#forward-to', 'nobody@example.com');
  await page.click('#save-forwarding');
  await page.waitForSelector('.alert.error:has-text("not an address on this server")');
  await page.check('#forward-on');
  await page.fill('#forward-to', 'bob@example.com');
  await page.check('#forward-keep');
  await page.click('#save-forwarding');
  await page.waitForSelector('.alert.notice:has-text("Mail is forwarded to bob@example.com.")');
  const [bob, dave] = [await count('bob'), await count('dave')];
  await lmtpDeliver(server.lmtp, 'dave@example.com', mail({ to: 'dave@example.com', subject: 'Passed on', body: 'x' }));
  assert.equal(await count('bob'), bob + 1);
  assert.equal(await count('dave'), dave + 1);
  assert.match(await newest('bob'), /Subject: Passed on/);
  await page.context().close();
});
