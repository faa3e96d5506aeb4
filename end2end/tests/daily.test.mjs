// The web as a daily mail client: what people take for granted in Gmail
// or Fastmail, each checked in a real chromium against a real Mailroom,
// with other clients (IMAP) changing the same mail behind the page's back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import {
  startServer, launchBrowser, signIn, hydrated, imapSession, mail, output, PASSWORD,
} from './mailroom.mjs';

let server;
let browser;
let alice; // alice's page
let imap; // alice over IMAP, as her desktop client

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  imap = await imapSession(server.imap, 'alice');
  for (let n = 1; n <= 12; n += 1) {
    const number = String(n).padStart(2, '0');
    await imap.append('INBOX', mail({ subject: `Bulk message ${number}`, body: `Number ${number}.` }));
  }
});

after(async () => {
  imap?.close();
  await browser?.close();
  await server?.stop();
});

const shot = (page, name) => page.screenshot({ path: join(output, `${name}.png`), fullPage: false });
const row = (page, subject) => page.locator('.msg-row', { hasText: subject });
const box = (page, subject) => row(page, subject).locator('input[type=checkbox]');

/** The subjects of the INBOX messages an IMAP SEARCH finds. */
async function subjectsWhere(criteria, mailbox = 'INBOX') {
  await imap.command(`SELECT ${mailbox}`);
  const found = await imap.command(`UID SEARCH ${criteria}`);
  const uids = (found.match(/^\* SEARCH(.*)$/m)?.[1] ?? '').trim();
  if (!uids) return [];
  const fetched = await imap.command(`UID FETCH ${uids.split(/\s+/).join(',')} (BODY.PEEK[HEADER.FIELDS (SUBJECT)])`);
  return [...fetched.matchAll(/Subject: (.*)\r\n/g)].map((m) => m[1]).sort();
}

/** Expunges the INBOX message with this subject, as another client would. */
async function expungeElsewhere(subject) {
  await imap.command('SELECT INBOX');
  const found = await imap.command(`UID SEARCH SUBJECT "${subject}"`);
  const uid = found.match(/^\* SEARCH (\d+)/m)[1];
  await imap.command(`UID STORE ${uid} +FLAGS.SILENT (\\Deleted)`);
  await imap.command(`UID EXPUNGE ${uid}`);
}

test('ticks stay on the chosen messages when the list changes live, and actions hit exactly those', async () => {
  alice = await signIn(browser, server, 'alice');
  await row(alice, 'Bulk message 12').waitFor();
  await box(alice, 'Bulk message 05').check();
  await box(alice, 'Bulk message 02').check();

  // Three messages arrive above them: every row below moves down by three.
  for (const n of [1, 2, 3]) await imap.append('INBOX', mail({ subject: `New arrival ${n}`, body: 'x' }));
  await row(alice, 'New arrival 3').waitFor();
  assert.ok(await box(alice, 'Bulk message 05').isChecked(), 'the tick left Bulk message 05');
  assert.ok(await box(alice, 'Bulk message 02').isChecked(), 'the tick left Bulk message 02');
  assert.equal(await alice.locator('.msg-row input[type=checkbox]:checked').count(), 2);
  await shot(alice, '30-ticks-after-live-refresh');

  await alice.click('button[value=flag]');
  await alice.waitForSelector('.alert.notice:has-text("Flagged 2 messages")');
  assert.deepEqual(await subjectsWhere('FLAGGED'), ['Bulk message 02', 'Bulk message 05']);

  // Someone else expunges a message above the ticked one: rows move up.
  await row(alice, 'Bulk message 12').waitFor();
  await box(alice, 'Bulk message 07').check();
  await expungeElsewhere('Bulk message 10');
  await row(alice, 'Bulk message 10').waitFor({ state: 'detached' });
  assert.ok(await box(alice, 'Bulk message 07').isChecked(), 'the tick left Bulk message 07');
  assert.equal(await alice.locator('.msg-row input[type=checkbox]:checked').count(), 1);
  await alice.click('#list-form button[value=delete]');
  await alice.waitForSelector('.alert.notice:has-text("Deleted 1 message")');
  assert.deepEqual(await subjectsWhere('SUBJECT "Bulk message 07"', 'Trash'), ['Bulk message 07']);
  assert.deepEqual(await subjectsWhere('SUBJECT "Bulk message 0"'), [
    'Bulk message 01', 'Bulk message 02', 'Bulk message 03', 'Bulk message 04',
    'Bulk message 05', 'Bulk message 06', 'Bulk message 08', 'Bulk message 09',
  ]);

  // A ticked message that vanishes is unticked, and the page says so.
  await row(alice, 'Bulk message 12').waitFor();
  await box(alice, 'Bulk message 04').check();
  await expungeElsewhere('Bulk message 04');
  await row(alice, 'Bulk message 04').waitFor({ state: 'detached' });
  await alice.waitForSelector('#selection-gone:has-text("no longer here")');
  assert.equal(await alice.locator('.msg-row input[type=checkbox]:checked').count(), 0);
  assert.deepEqual(alice.errors, []);
});

test('the Sharing form adds the single rights ticked, whichever Add is clicked', async () => {
  await imap.command('CREATE Team');
  await alice.goto(`${server.web}/share?box=Team`);
  await alice.fill('#add-entry input[name=identifier]', 'bob');
  await alice.click('#add-entry details.custom summary');
  for (const letter of ['l', 'r', 'w']) await alice.check(`#add-entry input[name=rights][value=${letter}]`);
  await alice.click('#add-entry > button.primary');
  await alice.waitForSelector('.alert.notice:has-text("now has")');
  assert.match(await imap.command('GETACL Team'), /^\* ACL Team .*\bbob\S* lrw\b/m);

  // Changing an entry's preset still works: its boxes were left as drawn.
  await alice.selectOption('tr[data-entry^="bob"] select[name=preset]', 'read-write');
  await alice.click('tr[data-entry^="bob"] form.entry > button');
  await alice.waitForSelector('.alert.notice:has-text("read-write")');
  assert.match(await imap.command('GETACL Team'), /^\* ACL Team .*\bbob\S* lrswipte\b/m);
  assert.deepEqual(alice.errors, []);
});

test('a 20 MB attachment is sent whole; one over the limit is refused in the page, the message kept', async () => {
  await alice.goto(`${server.web}/compose`);
  await alice.waitForSelector('form.compose');
  await hydrated(alice);
  assert.match(await alice.textContent('#attach-limit'), /Attachments up to 35\.8 MB in total/);
  await alice.fill('#to', 'bob@example.com');
  await alice.fill('#subject', 'The big file');
  await alice.fill('#body', 'Here it is, all twenty megabytes.');

  // Over the limit: the page says so before anything is uploaded.
  const tooBig = Buffer.alloc(40 * 1024 * 1024, 7);
  await alice.setInputFiles('input[type=file]', { name: 'huge.bin', mimeType: 'application/octet-stream', buffer: tooBig });
  await alice.waitForSelector('#attach-error:has-text("a message can carry 35.8 MB")');
  await alice.click('#send');
  assert.match(alice.url(), /\/compose/);
  assert.equal(await alice.inputValue('#body'), 'Here it is, all twenty megabytes.');

  const big = Buffer.alloc(20 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4096) big.writeUInt32BE(i, i);
  await alice.setInputFiles('input[type=file]', { name: 'big.bin', mimeType: 'application/octet-stream', buffer: big });
  assert.ok(await alice.locator('#attach-error').isHidden());
  assert.match(await alice.textContent('#attach-limit'), /Attachments: 20\.0 MB of up to 35\.8 MB/);
  await shot(alice, '31-compose-20mb-attachment');
  await alice.click('#send');
  await alice.waitForSelector('.alert.notice:has-text("Message sent to bob@example.com")');

  const bob = await signIn(browser, server, 'bob');
  await row(bob, 'The big file').locator('a').click();
  await bob.waitForSelector('.attachments a:has-text("big.bin")');
  assert.match(await bob.locator('.attachments').textContent(), /20\.0 MB/);
  const [download] = await Promise.all([bob.waitForEvent('download'), bob.click('.attachments a:has-text("big.bin")')]);
  const saved = await readFile(await download.path());
  assert.ok(saved.equals(big), 'the attachment arrived changed');
  assert.deepEqual(alice.errors, []);
  assert.deepEqual(bob.errors, []);
  await bob.context().close();
});

/** How many messages `mailbox` of alice's holds. */
async function count(mailbox) {
  const selected = await imap.command(`SELECT ${mailbox}`);
  return Number(selected.match(/^\* (\d+) EXISTS/m)[1]);
}

test('a compose error comes back on the same page with the whole message, never in the URL', async () => {
  const text = '漢'.repeat(12000);
  await alice.goto(`${server.web}/compose`);
  await hydrated(alice);
  await alice.fill('#to', 'nobody@nowhere.invalid');
  await alice.fill('#subject', 'Long letter');
  await alice.fill('#body', text);
  await alice.setInputFiles('input[type=file]', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('my notes') });
  await alice.click('#send');
  await alice.waitForSelector('.alert.error:has-text("nowhere.invalid")');
  assert.ok(alice.url().length < 300, `the message went into the URL: ${alice.url().length} characters`);
  assert.equal(await alice.inputValue('#body'), text);
  assert.equal(await alice.inputValue('#subject'), 'Long letter');
  assert.ok(await alice.locator('.carried input[name=carry]').isChecked());
  assert.match(await alice.locator('.carried').textContent(), /notes\.txt/);

  // An address not finished yet: the message is still kept whole.
  await alice.fill('#to', 'bob@');
  await alice.click('#send');
  await alice.waitForSelector('.alert.error:has-text("bob@")');
  assert.equal(await alice.inputValue('#body'), text);
  assert.equal(await alice.inputValue('#to'), 'bob@');

  await alice.fill('#to', 'bob@example.com');
  await alice.click('#send');
  await alice.waitForSelector('.alert.notice:has-text("Message sent to bob@example.com")');
  assert.equal(await count('Drafts'), 0, 'the draft kept after the error stayed after sending');
  const bob = await signIn(browser, server, 'bob');
  await row(bob, 'Long letter').locator('a').click();
  await bob.waitForSelector('.attachments a:has-text("notes.txt")');
  assert.equal((await bob.locator('.text-body').textContent()).trim(), text);
  await bob.context().close();
});

test('a draft is taken up again with its recipients, text and attachments, and saving or sending replaces it', async () => {
  await alice.goto(`${server.web}/compose`);
  await hydrated(alice);
  await alice.fill('#to', 'bob@example.com');
  await alice.fill('#subject', 'Plan draft');
  await alice.fill('#body', 'First version.');
  await alice.setInputFiles('input[type=file]', { name: 'plan.txt', mimeType: 'text/plain', buffer: Buffer.from('the plan') });
  await alice.click('#save-draft');
  await alice.waitForSelector('.alert.notice:has-text("Draft saved.")');
  await row(alice, 'Plan draft').locator('a').click();
  await alice.click('#edit-draft');
  await alice.waitForSelector('form.compose');
  assert.equal(await alice.inputValue('#to'), 'bob@example.com');
  assert.equal(await alice.inputValue('#subject'), 'Plan draft');
  assert.equal((await alice.inputValue('#body')).trim(), 'First version.');
  assert.match(await alice.locator('.carried').textContent(), /plan\.txt/);
  await alice.fill('#body', 'Second version.');
  await shot(alice, '32-edited-draft');
  await alice.click('#save-draft');
  await alice.waitForSelector('.alert.notice:has-text("Draft saved.")');
  assert.equal(await count('Drafts'), 1, 'saving again kept the old version');

  await row(alice, 'Plan draft').locator('a').click();
  await alice.waitForSelector('.text-body:has-text("Second version.")');
  await alice.click('#edit-draft');
  await alice.waitForSelector('form.compose');
  await alice.click('#send');
  await alice.waitForSelector('.alert.notice:has-text("Message sent to bob@example.com")');
  assert.equal(await count('Drafts'), 0, 'sending kept the draft');
  const bob = await signIn(browser, server, 'bob');
  await row(bob, 'Plan draft').locator('a').click();
  await bob.waitForSelector('.text-body:has-text("Second version.")');
  await bob.waitForSelector('.attachments a:has-text("plan.txt")');
  await bob.context().close();
});

test('forward carries the original attachments, each removable', async () => {
  const boundary = 'b0undary';
  await imap.append('INBOX', mail({
    subject: 'Two files',
    headers: `MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="${boundary}"\r\n`,
    body: [`--${boundary}`, 'Content-Type: text/plain', '', 'See both.', `--${boundary}`,
      'Content-Type: text/plain; name="keep.txt"', 'Content-Disposition: attachment; filename="keep.txt"', '', 'keep me',
      `--${boundary}`, 'Content-Type: text/plain; name="drop.txt"', 'Content-Disposition: attachment; filename="drop.txt"', '',
      'drop me', `--${boundary}--`].join('\n'),
  }));
  await alice.goto(`${server.web}/mail`);
  await row(alice, 'Two files').locator('a').click();
  await alice.click('#forward');
  await alice.waitForSelector('form.compose');
  assert.match(await alice.locator('.carried').textContent(), /keep\.txt[\s\S]*drop\.txt/);
  await alice.locator('.carried label', { hasText: 'drop.txt' }).locator('input').uncheck();
  await alice.fill('#to', 'carol@example.com');
  await alice.click('#send');
  await alice.waitForSelector('.alert.notice:has-text("Message sent to carol@example.com")');
  const carol = await signIn(browser, server, 'carol');
  await row(carol, 'Fwd: Two files').locator('a').click();
  await carol.waitForSelector('.attachments a:has-text("keep.txt")');
  assert.equal(await carol.locator('.attachments a:has-text("drop.txt")').count(), 0);
  await carol.context().close();
});

test('a compose form posted twice is sent once', async () => {
  await alice.goto(`${server.web}/compose`);
  await hydrated(alice);
  await alice.fill('#to', 'bob@example.com');
  await alice.fill('#subject', 'Only once');
  await alice.fill('#body', 'Said once.');
  const answers = await alice.evaluate(async () => {
    const form = document.querySelector('form.compose');
    const post = () => fetch('/compose', { method: 'POST', body: new FormData(form) }).then((r) => r.url);
    return [await post(), await post()];
  });
  assert.match(decodeURIComponent(answers[0]), /Message sent to bob@example\.com/);
  assert.match(decodeURIComponent(answers[1]), /sent already/);
  const bob = await imapSession(server.imap, 'bob');
  await bob.command('SELECT INBOX');
  const found = await bob.command('SEARCH SUBJECT "Only once"');
  assert.equal(found.match(/^\* SEARCH(.*)$/m)[1].trim().split(/\s+/).length, 1);
  bob.close();
  // The form itself was never submitted: leave it as a user would.
  await alice.click('#discard');
  await alice.waitForSelector('.alert.notice:has-text("discarded")');
  assert.deepEqual(alice.errors, []);
});

test('the open message follows live changes: expunged elsewhere or access removed, it says so in words', async () => {
  await alice.goto(`${server.web}/mail`);
  await row(alice, 'Bulk message 08').locator('a').click();
  await alice.waitForSelector('.message .subject:has-text("Bulk message 08")');
  await hydrated(alice);
  await expungeElsewhere('Bulk message 08');
  await alice.waitForSelector('#message-gone:has-text("may have been deleted or moved")');
  assert.equal(await alice.locator('.message .subject').count(), 0, 'the expunged message stayed on screen');
  assert.doesNotMatch(await alice.textContent('#message-gone'), /server function/);
  await alice.click('#message-gone a');
  await row(alice, 'Bulk message 09').waitFor();

  // Marked unread elsewhere while open: the live reload leaves it unread.
  await row(alice, 'Bulk message 09').locator('a').click();
  await alice.waitForSelector('.message .subject:has-text("Bulk message 09")');
  await imap.command('SELECT INBOX');
  const nine = (await imap.command('UID SEARCH SUBJECT "Bulk message 09"')).match(/^\* SEARCH (\d+)/m)[1];
  await imap.command(`UID STORE ${nine} -FLAGS.SILENT (\\Seen)`);
  await row(alice, 'Bulk message 09').and(alice.locator('.unread')).waitFor();
  // A later change reaches the page too: the reloads for the first are done.
  await imap.append('INBOX', mail({ subject: 'Marker after unread', body: 'x' }));
  await row(alice, 'Marker after unread').waitFor();
  await imap.command('NOOP');
  assert.doesNotMatch(await imap.command(`UID FETCH ${nine} FLAGS`), /\\Seen/, 'the reload marked it read again');

  // bob reads in alice's shared folder; alice takes his access away.
  await imap.append('Team', mail({ subject: 'Team notes', body: 'For the team.' }));
  const bob = await signIn(browser, server, 'bob');
  await bob.goto(`${server.web}/mail?box=~alice/Team`);
  await row(bob, 'Team notes').locator('a').click();
  await bob.waitForSelector('.text-body:has-text("For the team.")');
  await hydrated(bob);
  await imap.command('DELETEACL Team bob@example.com');
  await bob.waitForSelector('#message-gone');
  await bob.waitForSelector('#list-refused:has-text("This folder cannot be shown")');
  assert.equal(await bob.locator('.text-body').count(), 0, 'the body stayed on screen after access was removed');
  await shot(bob, '33-access-removed-live');
  assert.deepEqual(alice.errors, []);
  assert.deepEqual(bob.errors, [], 'a live refresh answered with an HTTP error');
  await bob.context().close();
});

test('deleting a folder asks first, and its mail goes to Trash', async () => {
  await imap.command('CREATE Old');
  await imap.append('Old', mail({ subject: 'Old letter one', body: 'x' }));
  await imap.append('Old', mail({ subject: 'Old letter two', body: 'x' }));
  const trashBefore = await count('Trash');
  await alice.goto(`${server.web}/mail?box=Old`);
  await row(alice, 'Old letter two').waitFor();
  await alice.click('details.manage > summary');
  assert.equal(await alice.locator('#delete-folder button[value=delete]').isVisible(), false, 'one click deletes');
  await alice.click('#delete-folder > summary');
  assert.match(await alice.textContent('#delete-folder'), /Its 2 messages will be moved to your Trash/);
  await alice.click('#delete-folder button[value=delete]');
  await alice.waitForSelector('.alert.notice:has-text("Folder Old deleted; its 2 messages are in Trash.")');
  assert.equal(await count('Trash'), trashBefore + 2);
  assert.doesNotMatch(await imap.command('LIST "" "*"'), /"Old"|\bOld\r\n/);
});

test('an HTML receipt keeps its inline styling, safely', async () => {
  const html = `<html><body style="margin:0">
    <table width="100%" bgcolor="#eef3fb" cellpadding="16"><tr><td align="center">
      <h1 style="color: #1a4fa0; font-family: Georgia, serif; font-size: 30px; margin: 0">Cosy Café</h1>
      <p style="color: #666; font-size: 13px; position: fixed; top: 0; left: 0; z-index: 999">Receipt #1042</p>
    </td></tr></table>
    <table width="100%" cellpadding="8" style="border-collapse: collapse; font-size: 16px">
      <tr style="border-bottom: 1px solid #ddd"><td>Flat white</td><td align="right">€3.20</td></tr>
      <tr><td style="font-weight: bold; background: url(http://127.0.0.1:9/bg.png)">Total</td>
          <td align="right" style="font-weight: bold; color: #0a7d32">€3.20</td></tr>
    </table></body></html>`;
  await imap.append('INBOX', mail({
    subject: 'Your receipt',
    headers: 'MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n',
    body: html,
  }));
  await alice.goto(`${server.web}/mail`);
  await row(alice, 'Your receipt').locator('a').click();
  const frame = alice.frameLocator('iframe.html-body');
  const title = frame.locator('h1');
  await title.waitFor();
  assert.equal(await title.evaluate((e) => getComputedStyle(e).color), 'rgb(26, 79, 160)');
  assert.match(await title.evaluate((e) => getComputedStyle(e).fontFamily), /Georgia/);
  assert.equal(await frame.locator('table[bgcolor="#eef3fb"]').count(), 1);
  const total = frame.locator('td', { hasText: '€3.20' }).last();
  assert.equal(await total.evaluate((e) => getComputedStyle(e).color), 'rgb(10, 125, 50)');
  const receipt = frame.locator('p', { hasText: 'Receipt #1042' });
  assert.equal(await receipt.evaluate((e) => getComputedStyle(e).position), 'static');
  assert.equal(await frame.locator('[style*=url]').count(), 0);
  await shot(alice, '34-styled-html-mail');
  assert.deepEqual(alice.errors, []);
});

test("dates are shown on the reader's clock: a New York reader sees tonight's mail as tonight's", async () => {
  await imap.append('INBOX', mail({ subject: 'Late call', body: 'x' }).replace(
    'Date: Fri, 27 Nov 2026 09:30:00 +0000', 'Date: Fri, 27 Nov 2026 02:30:00 +0000'));
  const ny = await signIn(browser, server, 'alice', { width: 1400, height: 900 }, 'America/New_York');
  await row(ny, 'Late call').locator('.date:has-text("26 Nov")').waitFor();
  await row(ny, 'Late call').locator('a').click();
  await ny.waitForSelector('.headers dd:has-text("Thu, 26 Nov 2026 21:30 EST")');
  await shot(ny, '35-new-york-time');
  // Reloaded, the server renders the same text the browser hydrates.
  await ny.reload();
  await hydrated(ny);
  await ny.waitForSelector('.headers dd:has-text("Thu, 26 Nov 2026 21:30 EST")');
  assert.deepEqual(ny.errors, []);
  await ny.context().close();
});

test('the browser code is served compressed', async () => {
  const fetched = (encoding) => new Promise((resolve, reject) => {
    http.get(`${server.web}/pkg/mailroom_bg.wasm`, { headers: { 'accept-encoding': encoding } }, (res) => {
      let bytes = 0;
      res.on('data', (chunk) => { bytes += chunk.length; });
      res.on('end', () => resolve({ encoding: res.headers['content-encoding'], bytes }));
    }).on('error', reject);
  });
  const plain = await fetched('identity');
  const brotli = await fetched('br');
  const gzip = await fetched('gzip');
  assert.equal(plain.encoding, undefined);
  assert.equal(brotli.encoding, 'br');
  assert.equal(gzip.encoding, 'gzip');
  assert.ok(brotli.bytes < plain.bytes / 3, `brotli ${brotli.bytes} of ${plain.bytes} bytes`);
  console.log(`# wasm: ${plain.bytes} bytes plain, ${gzip.bytes} gzip, ${brotli.bytes} brotli`);
});

test('Sent lists whom mail went to, and the tab shows the unread count', async () => {
  await alice.goto(`${server.web}/mail?box=Sent`);
  await row(alice, 'Only once').waitFor();
  assert.match(await row(alice, 'Only once').locator('.sender').textContent(), /^To: .*bob@example\.com/);
  await alice.goto(`${server.web}/mail`);
  await hydrated(alice);
  const unread = Number(await alice.locator('.folders li.active .badge').textContent());
  await alice.waitForFunction((n) => document.title === `(${n}) INBOX · Mailroom`, unread);
  await imap.append('INBOX', mail({ subject: 'One more', body: 'x' }));
  await alice.waitForFunction((n) => document.title === `(${n}) INBOX · Mailroom`, unread + 1);
});

test('a dark theme follows the system setting', async () => {
  await alice.goto(`${server.web}/mail`);
  await hydrated(alice);
  const paper = () => alice.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
  assert.equal(await paper(), 'rgb(246, 247, 249)');
  await alice.emulateMedia({ colorScheme: 'dark' });
  assert.equal(await paper(), 'rgb(18, 21, 26)');
  await shot(alice, '36-dark-theme');
  await alice.emulateMedia({ colorScheme: 'light' });
});

test('plain text shows web addresses as links and folds quoted text', async () => {
  await imap.append('INBOX', mail({
    subject: 'See the agenda',
    body: 'The agenda is at https://intranet.example.com/agenda?id=7.\nThanks!\n\n> On Monday you wrote:\n> Where is the agenda?\n> Nobody knows.',
  }));
  await alice.goto(`${server.web}/mail`);
  await row(alice, 'See the agenda').locator('a').click();
  const link = alice.locator('.text-body a');
  await link.waitFor();
  assert.equal(await link.getAttribute('href'), 'https://intranet.example.com/agenda?id=7');
  assert.equal(await link.getAttribute('rel'), 'noopener noreferrer');
  assert.match(await alice.textContent('.text-body'), /agenda\?id=7\.\r?\nThanks!/);
  const quoted = alice.locator('.text-body details.quoted');
  assert.equal(await quoted.count(), 1);
  assert.equal(await quoted.locator('text=Nobody knows.').isVisible(), false);
  await quoted.locator('summary').click();
  assert.ok(await quoted.locator('text=Nobody knows.').isVisible());
  assert.deepEqual(alice.errors, []);
});

test('Bcc recipients get the mail, and nobody sees them', async () => {
  await alice.goto(`${server.web}/compose`);
  await hydrated(alice);
  await alice.fill('#to', 'bob@example.com');
  await alice.fill('#bcc', 'carol@example.com');
  await alice.fill('#subject', 'Quiet copy');
  await alice.fill('#body', 'Carol is listening.');
  await alice.click('#save-draft');
  await alice.waitForSelector('.alert.notice:has-text("Draft saved.")');
  await row(alice, 'Quiet copy').locator('a').click();
  await alice.click('#edit-draft');
  await alice.waitForSelector('form.compose');
  assert.equal(await alice.inputValue('#bcc'), 'carol@example.com', 'the draft lost its Bcc');
  await alice.click('#send');
  await alice.waitForSelector('.alert.notice:has-text("Message sent to bob@example.com, carol@example.com")');
  for (const user of ['bob', 'carol']) {
    const session = await imapSession(server.imap, user);
    await session.command('SELECT INBOX');
    const found = await session.command('SEARCH SUBJECT "Quiet copy"');
    const uid = found.match(/^\* SEARCH (\d+)/m)[1];
    const header = await session.command(`FETCH ${uid} BODY.PEEK[HEADER]`);
    assert.doesNotMatch(header, /carol|Bcc/i, `${user}'s copy names the Bcc recipient`);
    session.close();
  }
  // The sender's own copy in Sent says whom it went to blind.
  await imap.command('SELECT Sent');
  const sent = (await imap.command('SEARCH SUBJECT "Quiet copy"')).match(/^\* SEARCH (\d+)/m)[1];
  assert.match(await imap.command(`FETCH ${sent} BODY.PEEK[HEADER]`), /Bcc: <?carol@example\.com>?/);
});

/** Waits until `check` holds, asking again every 100 ms (an autosave is
 * the page's own doing, seen through IMAP). */
async function eventually(check, what) {
  const deadline = Date.now() + 30000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('composing saves a draft by itself, warns before leaving unsaved text, and Discard removes the draft', async () => {
  const page = await signIn(browser, server, 'alice');
  page.removeAllListeners('dialog');
  const dialogs = [];
  page.on('dialog', (d) => { dialogs.push(d.type()); d.dismiss(); });
  const drafts = await count('Drafts');
  await page.goto(`${server.web}/compose`);
  await hydrated(page);
  await page.fill('#to', 'bob@example.com');
  await page.fill('#subject', 'Autosaved');
  await page.locator('#body').pressSequentially('First words.');
  await eventually(async () => (await count('Drafts')) === drafts + 1, 'the draft was saved');
  await page.locator('#body').pressSequentially(' More words.');
  await eventually(async () => /SEARCH \d+/.test(await imap.command('SEARCH BODY "More words"')), 'the draft was updated');
  assert.equal(await count('Drafts'), drafts + 1, 'autosave kept old versions');

  // Unsaved text: leaving asks first (and staying keeps the text).
  await page.locator('#body').pressSequentially(' Unsaved.');
  await page.click('a.brand');
  await eventually(async () => dialogs.includes('beforeunload'), 'a warning before leaving');
  assert.match(await page.inputValue('#body'), /Unsaved\.$/);

  await page.click('#discard');
  await page.waitForSelector('.alert.notice:has-text("Draft discarded.")');
  assert.equal(await count('Drafts'), drafts, 'Discard left the draft');
  await page.context().close();
});

test('delete, move and flag can be undone for a few seconds; what destroys mail asks first', async () => {
  for (const n of [1, 2, 3]) await imap.append('INBOX', mail({ subject: `Undo me ${n}`, body: 'x' }));
  const page = await signIn(browser, server, 'alice');
  await row(page, 'Undo me 3').waitFor();

  // Delete, then Undo: back in the INBOX, not in Trash.
  await box(page, 'Undo me 1').check();
  await page.click('#list-form button[value=delete]');
  await page.waitForSelector('.alert.notice:has-text("Deleted 1 message (moved to Trash)")');
  await shot(page, '37-undo');
  await page.click('#undo button');
  await page.waitForSelector('.alert.notice:has-text("Undone")');
  await row(page, 'Undo me 1').waitFor();
  assert.deepEqual((await subjectsWhere('SUBJECT "Undo me"')).length, 3);
  assert.deepEqual(await subjectsWhere('SUBJECT "Undo me"', 'Trash'), []);

  // Move, then Undo.
  await box(page, 'Undo me 2').check();
  await page.selectOption('#list-form select[name=target]', 'Trash');
  await page.click('#list-form button[value=move]');
  await page.waitForSelector('.alert.notice:has-text("Moved 1 message to Trash")');
  await page.click('#undo button');
  await page.waitForSelector('.alert.notice:has-text("Undone")');
  assert.deepEqual(await subjectsWhere('SUBJECT "Undo me 2"'), ['Undo me 2']);

  // Flag, then Undo: only what the flag changed is unflagged.
  await box(page, 'Undo me 3').check();
  await page.click('#list-form button[value=flag]');
  await page.waitForSelector('.alert.notice:has-text("Flagged 1 message")');
  await page.click('#undo button');
  await page.waitForSelector('.alert.notice:has-text("Undone: Unflagged")');
  assert.deepEqual(await subjectsWhere('FLAGGED SUBJECT "Undo me"'), []);

  // Undo is offered for a few seconds only.
  await box(page, 'Undo me 3').check();
  await page.click('#list-form button[value=flag]');
  await page.waitForSelector('#undo');
  await page.waitForSelector('#undo', { state: 'detached', timeout: 20000 });

  // In Trash, a delete is for good: it takes a second click.
  await box(page, 'Undo me 3').check();
  await page.click('#list-form button[value=delete]');
  await page.waitForSelector('.alert.notice:has-text("Deleted 1 message")');
  await page.click('.folders a[data-folder=Trash]');
  await row(page, 'Undo me 3').waitFor();
  assert.equal(await page.locator('#list-form button[value=delete]').count(), 0, 'one click deletes for good');
  await box(page, 'Undo me 3').check();
  await page.click('#delete-forever > summary');
  await page.click('#delete-forever button[value=delete-forever]');
  await page.waitForSelector('.alert.notice:has-text("Deleted 1 message for good")');
  assert.deepEqual(await subjectsWhere('SUBJECT "Undo me 3"', 'Trash'), []);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('delete or flag in the reader moves on to the next message', async () => {
  for (const n of [1, 2, 3]) await imap.append('INBOX', mail({ subject: `Read on ${n}`, body: `Text ${n}.` }));
  const page = await signIn(browser, server, 'alice');
  await row(page, 'Read on 3').locator('a').click();
  await page.waitForSelector('.message .subject:has-text("Read on 3")');
  await page.click('.message button[value=flag]');
  await page.waitForSelector('.alert.notice:has-text("Flagged 1 message")');
  await page.waitForSelector('.message .subject:has-text("Read on 2")');
  await page.click('.message #delete');
  await page.waitForSelector('.alert.notice:has-text("Deleted 1 message")');
  await page.waitForSelector('.message .subject:has-text("Read on 1")');
  assert.deepEqual(await subjectsWhere('FLAGGED SUBJECT "Read on"'), ['Read on 3']);
  assert.deepEqual(await subjectsWhere('SUBJECT "Read on 2"', 'Trash'), ['Read on 2']);
  await page.context().close();
});

test('deleting an account and a rule that discards everything take a confirming click', async () => {
  const admin = await signIn(browser, server, 'admin');
  await admin.goto(`${server.web}/admin`);
  await hydrated(admin);
  const dave = admin.locator('tr', { hasText: 'dave@example.com' });
  assert.equal(await dave.locator('button[value=delete_account]').isVisible(), false, 'one click deletes an account');
  await dave.locator('.delete-account > summary').click();
  await dave.locator('button[value=delete_account]').click();
  await admin.waitForSelector('.alert.notice:has-text("Account dave@example.com deleted")');

  await admin.goto(`${server.web}/rules`);
  await hydrated(admin);
  await admin.fill('input[name=name]', 'Drop it all');
  await admin.selectOption('select[name=action] >> nth=0', 'discard');
  await admin.click('button[value=save]');
  await admin.waitForSelector('.alert.error:has-text("discard every incoming message")');
  assert.equal(await admin.locator('#rules td:has-text("Drop it all")').count(), 0);
  await admin.fill('input[name=name]', 'Drop it all');
  await admin.selectOption('select[name=action] >> nth=0', 'discard');
  await admin.check('#confirm-discard input');
  await admin.click('button[value=save]');
  await admin.waitForSelector('.alert.notice:has-text("Rule “Drop it all” added.")');
  await admin.context().close();
});

test('a live change is one request, and a burst of changes a few', async () => {
  const page = await signIn(browser, server, 'alice');
  let requests = 0;
  page.on('request', (r) => { if (!r.url().endsWith('/events')) requests += 1; });
  await imap.append('INBOX', mail({ subject: 'Just one change', body: 'x' }));
  await row(page, 'Just one change').waitFor();
  await page.waitForTimeout(1000);
  assert.equal(requests, 1, 'the folder tree and the list come in one request');

  requests = 0;
  for (let n = 1; n <= 50; n += 1) await imap.append('INBOX', mail({ subject: `Storm ${n}`, body: 'x' }));
  await row(page, 'Storm 50').waitFor();
  await page.waitForTimeout(1000);
  assert.ok(requests < 10, `50 changes made ${requests} requests`);
  await page.context().close();
});

test('search operators: from:, to:, subject:, has:attachment, is:unread, before:/after:, in:all, and the chosen sort', async () => {
  const attachment = 'Content-Type: multipart/mixed; boundary=b\r\n';
  const withFile = '--b\nContent-Type: text/plain\n\nSee the menu.\n--b\nContent-Type: application/pdf\n'
    + 'Content-Disposition: attachment; filename=menu-october.pdf\nContent-Transfer-Encoding: base64\n\nJVBERg==\n--b--';
  await imap.append('INBOX', mail({ from: 'Carol Jones <carol@example.net>', subject: 'Zebra plan', body: 'Budget words.' }));
  await imap.append('INBOX', mail({ from: 'Dave <dave@example.org>', subject: 'Lunch menu', body: withFile, headers: attachment }));
  await imap.append('INBOX', mail({ from: 'Carol Jones <carol@example.net>', to: 'team@example.com', subject: 'Apple plan', body: 'Budget again.' }));
  const old = mail({ subject: 'Ancient plan', body: 'Budget of old.' });
  await imap.command(`APPEND INBOX (\\Seen) "01-Jan-2020 10:00:00 +0000" {${Buffer.byteLength(old)}+}\r\n${old}`);
  await imap.command('CREATE Archive2026');
  await imap.append('Archive2026', mail({ subject: 'Archived plan', body: 'Budget kept.' }));

  const page = await signIn(browser, server, 'alice');
  const search = async (q, sort) => {
    await page.goto(`${server.web}/mail?box=INBOX&q=${encodeURIComponent(q)}${sort ? `&sort=${sort}` : ''}`);
    await hydrated(page);
    await page.waitForSelector('.list-head');
    return page.locator('.msg-row .subject').allTextContents().then((s) => s.map((t) => t.trim()));
  };
  assert.deepEqual((await search('from:carol@example.net')).sort(), ['Apple plan', 'Zebra plan']);
  assert.deepEqual((await search('from:carol plan')).sort(), ['Apple plan', 'Zebra plan']);
  assert.deepEqual(await search('to:team@example.com'), ['Apple plan']);
  assert.deepEqual(await search('menu-october'), ['Lunch menu'], 'an attachment name is found');
  assert.deepEqual(await search('has:attachment subject:lunch'), ['Lunch menu']);
  assert.deepEqual((await search('budget is:unread')).sort(), ['Apple plan', 'Zebra plan']);
  assert.deepEqual(await search('budget before:2021-01-01'), ['Ancient plan']);
  assert.deepEqual((await search('budget after:2021-01-01')).sort(), ['Apple plan', 'Zebra plan']);
  assert.deepEqual(await search('plan budget', 'subject'), ['Ancient plan', 'Apple plan', 'Zebra plan'], 'the sort chosen is kept');

  // Every folder: the result says where each message is and opens it there.
  const found = await search('budget kept');
  assert.deepEqual(found, []);
  await page.click('#search-everywhere');
  await page.waitForSelector('.msg-row:has-text("Archived plan") .in-folder:has-text("Archive2026")');
  await page.locator('.msg-row', { hasText: 'Archived plan' }).locator('a').click();
  await page.waitForSelector('.message .subject:has-text("Archived plan")');
  assert.match(page.url(), /box=Archive2026/);
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('forward as attachment sends the whole message as a message/rfc822 part', async () => {
  await imap.append('INBOX', mail({ subject: 'Original to pass on', body: 'The original text.' }));
  const page = await signIn(browser, server, 'alice');
  await row(page, 'Original to pass on').locator('a').click();
  await page.waitForSelector('.message .subject:has-text("Original to pass on")');
  await page.click('#forward-attached');
  await page.waitForURL(/mode=attach/);
  await hydrated(page);
  assert.equal(await page.inputValue('#subject'), 'Fwd: Original to pass on');
  await page.waitForSelector('.carried label:has-text("Original to pass on.eml")');
  await page.fill('#to', 'bob@example.com');
  await page.click('#send');
  await page.waitForSelector('.alert.notice');
  const bob = await imapSession(server.imap, 'bob');
  const selected = await bob.command('EXAMINE INBOX');
  const n = selected.match(/\* (\d+) EXISTS/)[1];
  const raw = await bob.command(`FETCH ${n} BODY.PEEK[]`);
  bob.close();
  assert.match(raw, /Content-Type: message\/rfc822/);
  assert.match(raw, /Content-Transfer-Encoding: 8bit/);
  assert.match(raw, /Subject: Original to pass on\r\n/);
  assert.match(raw, /The original text\./);
  await page.context().close();
});

test('on a phone nothing scrolls sideways and the folders are a drawer', async () => {
  const phone = { width: 390, height: 844 };
  const sideways = (page) => page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth);
  await imap.append('INBOX', mail({ subject: 'Read on a phone', body: 'x' }));
  const page = await signIn(browser, server, 'alice', phone);
  await row(page, 'Read on a phone').waitFor();
  assert.equal(await page.locator('nav.folders').isVisible(), false, 'the folder tree takes the screen');
  await page.click('.drawer-button');
  await page.locator('nav.folders').waitFor({ state: 'visible' });
  await shot(page, '38-phone-drawer');
  await page.click('.folders a[data-folder=Sent]');
  await page.waitForURL(/box=Sent/);
  await page.locator('nav.folders').waitFor({ state: 'hidden' });
  for (const path of ['/mail', '/share?box=INBOX', '/browse?account=bob', '/settings', '/rules']) {
    await page.goto(`${server.web}${path}`);
    await hydrated(page);
    assert.equal(await sideways(page), false, `${path} scrolls sideways on a phone`);
  }
  const admin = await signIn(browser, server, 'admin', phone);
  await admin.goto(`${server.web}/admin`);
  await hydrated(admin);
  assert.equal(await sideways(admin), false, '/admin scrolls sideways on a phone');
  await shot(admin, '39-phone-admin');
  await page.context().close();
  await admin.context().close();
});

test('keyboard reading: Space scrolls the message, j/k go on to the next page, compose puts the cursor where writing starts', async () => {
  const long = Array.from({ length: 200 }, (_, i) => `Line ${i + 1} of a long message.`).join('\n');
  for (let n = 1; n <= 50; n += 1) await imap.append('INBOX', mail({ subject: `Filler ${n}`, body: 'x' }));
  await imap.append('INBOX', mail({ subject: 'A long read', body: long }));
  const page = await signIn(browser, server, 'alice');
  await row(page, 'A long read').locator('a').click();
  await page.waitForSelector('.message .subject:has-text("A long read")');
  const top = () => page.evaluate(() => document.querySelector('.reader').scrollTop);
  assert.equal(await top(), 0);
  await page.keyboard.press('Space');
  await page.waitForFunction(() => document.querySelector('.reader').scrollTop > 0);
  await page.keyboard.press('ArrowDown');
  await page.waitForTimeout(300);
  assert.match(await page.textContent('.message .subject'), /A long read/, 'an arrow key left the message');

  // j past the last message of the page opens the next page.
  const count = await page.locator('.msg-row').count();
  assert.equal(count, 50, 'a full first page');
  const last = await page.locator('.msg-row').nth(49).getAttribute('data-uid');
  await page.locator('.msg-row').nth(49).locator('a').click();
  await page.waitForSelector(`.msg-row.current[data-uid="${last}"]`);
  await page.keyboard.press('j');
  await page.waitForURL(/page=1/);
  await hydrated(page);
  await page.keyboard.press('j');
  await page.waitForSelector('.msg-row.current');
  await page.keyboard.press('k');
  await page.waitForURL((url) => !/page=1/.test(url.toString()));

  await page.keyboard.press('c');
  await page.waitForURL(/\/compose/);
  await hydrated(page);
  await page.waitForFunction(() => document.activeElement?.id === 'to');
  await page.goto(`${server.web}/mail`);
  await hydrated(page);
  await row(page, 'A long read').locator('a').click();
  await page.waitForSelector('.message .subject:has-text("A long read")');
  await page.keyboard.press('r');
  await page.waitForURL(/mode=reply/);
  await hydrated(page);
  await page.waitForFunction(() => document.activeElement?.id === 'body');
  await page.context().close();
});

test('recipients are completed from the accounts and from whom one wrote to, after a comma too', async () => {
  const page = await signIn(browser, server, 'alice');
  await page.goto(`${server.web}/compose`);
  await hydrated(page);
  const offered = () => page.locator('#known-addresses option').evaluateAll((os) => os.map((o) => o.value));
  assert.ok((await offered()).includes('bob@example.com'), 'the accounts of the domain are offered');
  await page.locator('#to').pressSequentially('bob@example.com, ca');
  await page.waitForFunction(() => [...document.querySelectorAll('#known-addresses option')].some((o) => o.value === 'bob@example.com, carol@example.com'));
  assert.deepEqual(await offered(), ['bob@example.com, carol@example.com']);

  // Whom one wrote to comes first next time.
  await page.fill('#to', 'carol@example.com');
  await page.fill('#subject', 'Remember me');
  await page.click('#send');
  await page.waitForSelector('.alert.notice');
  await page.goto(`${server.web}/compose`);
  await hydrated(page);
  assert.equal((await offered())[0], 'carol@example.com');
  await page.context().close();
});

test('desktop notifications for new mail, once asked for', async () => {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  // The browser's notifications, recorded; and a page nobody looks at.
  await context.addInitScript(() => {
    window.notes = [];
    class Recorded {
      constructor(title, options) { window.notes.push(`${title}: ${options?.body}`); }
      static permission = 'default';
      static requestPermission() { Recorded.permission = 'granted'; return Promise.resolve('granted'); }
    }
    window.Notification = Recorded;
    document.hasFocus = () => false;
  });
  const page = await context.newPage();
  await page.goto(`${server.web}/login`);
  await page.fill('input[name=login]', 'alice');
  await page.fill('input[name=password]', PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForURL(/\/mail/);
  await hydrated(page);

  await imap.append('INBOX', mail({ subject: 'Before asking', body: 'x' }));
  await row(page, 'Before asking').waitFor();
  assert.deepEqual(await page.evaluate(() => window.notes), [], 'notified without being asked');

  await page.click('#notify');
  await page.waitForSelector('#notify:has-text("Stop notifying me")');
  await imap.append('INBOX', mail({ subject: 'After asking', body: 'x' }));
  await row(page, 'After asking').waitFor();
  await page.waitForFunction(() => window.notes.length === 1);
  assert.match((await page.evaluate(() => window.notes))[0], /^New mail: 1 new message · \d+ unread in INBOX$/);
  await context.close();
});
