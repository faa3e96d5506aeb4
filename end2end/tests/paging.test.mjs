// A big folder in the browser: the Older and Newer links read each page
// from the message next to it (after=UID, before=UID in the link, an
// index range however deep), and a search of a common word counts its
// matches only so far.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startServer, launchBrowser, signIn, imapSession, mail, output } from './mailroom.mjs';

let server;
let browser;
let imap;
const MESSAGES = 530;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  imap = await imapSession(server.imap, 'carol');
  for (let n = 1; n <= MESSAGES; n += 1) {
    const number = String(n).padStart(3, '0');
    await imap.append('INBOX', mail({ to: 'carol@example.com', subject: `Paged ${number}`, body: `A common word, ${number}.` }));
  }
});

after(async () => {
  imap?.close();
  await browser?.close();
  await server?.stop();
});

const counted = (page) => page.locator('.list-head .muted.small').textContent();
const firstSubject = (page) => page.locator('.msg-row').first().locator('.subject').textContent();

test('older and newer pages follow each other from their neighbours, and a common word is counted so far', async () => {
  const carol = await signIn(browser, server, 'carol');
  await carol.locator('.msg-row', { hasText: 'Paged 530' }).waitFor();
  assert.equal(await counted(carol), `1–50 of ${MESSAGES}`);

  await carol.click('#older');
  await carol.waitForURL(/after=\d+/);
  await carol.locator('.msg-row', { hasText: 'Paged 480' }).waitFor();
  assert.equal(await counted(carol), `51–100 of ${MESSAGES}`);
  assert.match(await firstSubject(carol), /Paged 480/);

  await carol.click('#older');
  await carol.locator('.msg-row', { hasText: 'Paged 430' }).waitFor();
  assert.equal(await counted(carol), `101–150 of ${MESSAGES}`);
  assert.match(await firstSubject(carol), /Paged 430/);

  // A message arrives meanwhile: the page read from its neighbour stays
  // the same messages (by offset it would shift by one).
  await imap.append('INBOX', mail({ to: 'carol@example.com', subject: 'Arrived later', body: 'New.' }));
  await carol.click('#newer');
  await carol.waitForURL(/before=\d+/);
  await carol.locator('.msg-row', { hasText: 'Paged 480' }).waitFor();
  assert.match(await firstSubject(carol), /Paged 480/);
  await carol.screenshot({ path: join(output, '45-paging-newer.png') });

  await carol.fill('input[name=q]', 'common');
  await carol.press('input[name=q]', 'Enter');
  await carol.waitForURL(/q=common/);
  await carol.locator('.list-head .muted.small', { hasText: 'more than 500' }).waitFor();
  assert.equal(await counted(carol), '1–50 of more than 500');
  assert.equal(await carol.locator('#older').count(), 1, 'a list counted so far still goes on');
  await carol.screenshot({ path: join(output, '46-search-more-than.png') });
  await carol.close();
});
