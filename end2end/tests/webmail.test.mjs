// The web interface in a real chromium against a real Mailroom: sign in,
// read, live updates from IMAP, compose, reply, move, delete, search, and
// a hostile HTML mail that must neither run nor load anything.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  startServer, launchBrowser, signIn, hydrated, imapSession, mail, tracker, output,
} from './mailroom.mjs';

let server;
let browser;
let alice; // alice's page, open throughout
let aliceImap;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  aliceImap = await imapSession(server.imap, 'alice');
  await aliceImap.append('INBOX', mail({ subject: 'Quarterly numbers', body: 'The figures are attached.\nRegards, Dave' }));
  await aliceImap.append('INBOX', mail({
    subject: 'Garden party',
    body: 'Bring a xylophone if you have one.',
  }));
});

after(async () => {
  aliceImap?.close();
  await browser?.close();
  await server?.stop();
});

const shot = (page, name) => page.screenshot({ path: join(output, `${name}.png`), fullPage: false });
const row = (page, subject) => page.locator('.msg-row', { hasText: subject });

test('signing in shows the inbox with its folders', async () => {
  const browserContext = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const login = await browserContext.newPage();
  await login.goto(`${server.web}/login`);
  await shot(login, '01-sign-in');
  await login.fill('input[name=login]', 'alice');
  await login.fill('input[name=password]', 'wrong password');
  await login.click('button[type=submit]');
  await login.waitForSelector('.alert.error');
  assert.match(await login.textContent('.alert.error'), /Wrong address or password/);
  await browserContext.close();

  alice = await signIn(browser, server, 'alice');
  await row(alice, 'Quarterly numbers').waitFor();
  assert.equal(await alice.locator('.msg-row.unread').count(), 2);
  await alice.locator('.folders li.active').waitFor();
  const folders = await alice.locator('.folders').textContent();
  for (const f of ['My folders', 'INBOX', 'Sent', 'Drafts', 'Trash']) assert.ok(folders.includes(f), f);
  assert.equal(await alice.locator('.folders li.active .badge').textContent(), '2');
  await shot(alice, '02-inbox');
});

test('opening a message shows it and marks it read', async () => {
  await row(alice, 'Quarterly numbers').locator('a').click();
  await alice.waitForSelector('.message .subject:has-text("Quarterly numbers")');
  assert.match(await alice.locator('.text-body').textContent(), /The figures are attached/);
  await alice.waitForFunction(() => !document.querySelector('.msg-row.current')?.classList.contains('unread'));
  await alice.waitForFunction(() => document.querySelector('.folders li.active .badge')?.textContent === '1');
  await shot(alice, '03-message');
});

test('a message delivered over IMAP appears in the open list without a reload', async () => {
  await alice.evaluate(() => { window.stillTheSamePage = true; });
  await aliceImap.append('INBOX', mail({ subject: 'Arrived while you watched', body: 'Live!' }));
  await row(alice, 'Arrived while you watched').waitFor();
  assert.equal(await alice.evaluate(() => window.stillTheSamePage), true, 'the page was reloaded');
  await alice.waitForFunction(() => document.querySelector('.folders li.active .badge')?.textContent === '2');
});

test('compose to another local user, who sees it and replies', async () => {
  await alice.click('#compose');
  await alice.waitForSelector('form.compose');
  await hydrated(alice);
  await alice.fill('#to', 'bob@example.com');
  await alice.fill('#subject', 'Lunch on Friday?');
  await alice.fill('#body', 'Shall we try the new place at noon?');
  await alice.setInputFiles('input[type=file]', { name: 'menu.txt', mimeType: 'text/plain', buffer: Buffer.from('Soup of the day') });
  await shot(alice, '04-compose');
  await alice.click('#send');
  await alice.waitForSelector('.alert.notice:has-text("Message sent to bob@example.com")');
  await hydrated(alice);

  const bob = await signIn(browser, server, 'bob');
  await row(bob, 'Lunch on Friday?').locator('a').click();
  await bob.waitForSelector('.message .subject:has-text("Lunch on Friday?")');
  assert.match(await bob.locator('.headers .from').textContent(), /alice@example\.com/);
  assert.match(await bob.locator('.attachments').textContent(), /menu\.txt/);
  const download = await Promise.all([
    bob.waitForEvent('download'),
    bob.click('.attachments a'),
  ]).then(([d]) => d);
  assert.equal(download.suggestedFilename(), 'menu.txt');

  await bob.click('#reply');
  await bob.waitForSelector('form.compose');
  assert.match(await bob.inputValue('#to'), /alice@example\.com/);
  assert.equal(await bob.inputValue('#subject'), 'Re: Lunch on Friday?');
  assert.match(await bob.inputValue('#body'), /> Shall we try the new place at noon\?/);
  await bob.locator('#body').press('Control+Home');
  await bob.locator('#body').pressSequentially('Noon works. ');
  await bob.click('#send');
  await bob.waitForSelector('.alert.notice:has-text("Message sent")');
  await row(bob, 'Lunch on Friday?').locator('.mark[title=Answered]').waitFor();

  // alice's open page learns of the reply by itself.
  await row(alice, 'Re: Lunch on Friday?').waitFor();
  await alice.click('.folders a[data-folder=Sent]');
  await row(alice, 'Lunch on Friday?').waitFor();
  await bob.context().close();
});

test('move a message to a new folder', async () => {
  await alice.goto(`${server.web}/mail`);
  await hydrated(alice);
  await alice.fill('.new-folder input[name=name]', 'Projects');
  await alice.click('.new-folder button');
  await alice.waitForSelector('.alert.notice:has-text("Folder created")');
  await alice.click('.folders a[data-folder=INBOX]');
  await row(alice, 'Quarterly numbers').locator('input[type=checkbox]').check();
  await alice.selectOption('select[name=target]', 'Projects');
  await alice.click('button[value=move]');
  await alice.waitForSelector('.alert.notice:has-text("Moved 1 message to Projects")');
  // The list is there (the notice may come before it): without the moved one.
  await row(alice, 'Arrived while you watched').waitFor();
  assert.equal(await row(alice, 'Quarterly numbers').count(), 0);
  await alice.click('.folders a[data-folder=Projects]');
  await row(alice, 'Quarterly numbers').waitFor();
});

test('delete moves a message to Trash', async () => {
  await alice.click('.folders a[data-folder=INBOX]');
  await row(alice, 'Garden party').locator('a').click();
  await alice.waitForSelector('.message .subject:has-text("Garden party")');
  await hydrated(alice);
  await alice.keyboard.press('#');
  await alice.waitForSelector('.alert.notice:has-text("Deleted 1 message")');
  await row(alice, 'Arrived while you watched').waitFor();
  assert.equal(await row(alice, 'Garden party').count(), 0);
  await alice.click('.folders a[data-folder=Trash]');
  await row(alice, 'Garden party').waitFor();
});

test('search finds a message by a word in its body', async () => {
  await alice.click('.folders a[data-folder=Trash]');
  await hydrated(alice);
  await alice.keyboard.press('/');
  await alice.keyboard.type('xylophone');
  await alice.keyboard.press('Enter');
  await alice.waitForURL(/q=xylophone/);
  await row(alice, 'Garden party').waitFor();
  assert.equal(await alice.locator('.msg-row').count(), 1);
  await shot(alice, '05-search');
  await alice.fill('#search', 'nosuchwordanywhere');
  await alice.press('#search', 'Enter');
  await alice.waitForSelector('text=Nothing found.');
});

/** Waits for the load event of the document now in `iframe`. */
async function frameLoaded(iframe) {
  const content = await (await iframe.elementHandle()).contentFrame();
  await content.waitForLoadState('load');
}

test('a hostile HTML mail runs nothing and loads nothing remote', async () => {
  const remote = await tracker();
  const html = `<html><head><style>body { position: fixed; inset: 0; background: red; }</style>
    <script>parent.document.body.innerHTML = 'owned'; alert('script ran');</script></head>
    <body><h1 onclick="alert('click')">Your invoice</h1>
    <img src="x" onerror="alert('onerror ran')">
    <img src="${remote.url}/pixel.gif" alt="tracker">
    <a id="js" href="javascript:alert('link ran')">Pay now</a>
    <div style="position: fixed; top: 0; left: 0; width: 100vw; height: 100vh; z-index: 99999; background: rgba(255,0,0,.5)">cover</div>
    <iframe src="${remote.url}/frame"></iframe><form action="${remote.url}/steal"><input name="password"></form>
    <p>Please pay by Friday.</p></body></html>`;
  await aliceImap.append('INBOX', mail({
    subject: 'Invoice overdue',
    headers: 'MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n',
    body: html,
  }));
  await alice.click('.folders a[data-folder=INBOX]');
  await row(alice, 'Invoice overdue').locator('a').click();
  const frame = alice.frameLocator('iframe.html-body');
  await frame.locator('text=Please pay by Friday.').waitFor();
  const iframe = alice.locator('iframe.html-body');
  assert.equal(await iframe.getAttribute('sandbox'), 'allow-popups allow-popups-to-escape-sandbox');
  await frame.locator('h1').click();
  await frame.locator('text=Pay now').click();
  // The frame's load event comes after every image, frame and style in it
  // has loaded or failed: no request of this mail is still on its way.
  await frameLoaded(iframe);
  assert.equal(await frame.locator('script, form, input, iframe, [onerror], [onclick]').count(), 0);
  // Inline styles stay, but none that positions or stacks over the page.
  assert.equal(await frame.locator('[style*=position], [style*=z-index], [style*=top], [style*=inset]').count(), 0);
  assert.equal(await frame.locator('a[href^="javascript"]').count(), 0);
  assert.equal(remote.hits(), 0, 'a remote resource was loaded');
  assert.ok(await alice.locator('.topbar').isVisible(), 'the page around the mail was changed');
  assert.match(await alice.locator('.alert.images').textContent(), /Remote images are blocked/);
  // The frame stays in its box: the list beside it is still clickable.
  assert.ok(await row(alice, 'Invoice overdue').isVisible());
  await shot(alice, '06-hostile-html');

  // Once the reader allows them, remote images load (so the block above was real).
  await alice.click('.alert.images a');
  // The new document: the tracker now has its src.
  await frame.locator('img[alt=tracker][src]').waitFor();
  await frameLoaded(iframe);
  assert.equal(remote.hits(), 1);
  assert.deepEqual(alice.errors, []);
  await remote.close();
});

test('the phone-sized layout shows one pane at a time', async () => {
  const phone = await signIn(browser, server, 'alice', { width: 390, height: 844 });
  await row(phone, 'Invoice overdue').waitFor();
  await shot(phone, '07-phone-list');
  await row(phone, 'Arrived while you watched').locator('a').click();
  await phone.waitForSelector('.message .subject');
  assert.ok(!(await phone.locator('.list').isVisible()), 'the list should give way to the message');
  await shot(phone, '08-phone-message');
  await phone.click('.message .back');
  await row(phone, 'Invoice overdue').waitFor();
  await phone.context().close();
});
