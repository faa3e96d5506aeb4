// Sharing in a real chromium: alice shares a folder with bob through the
// form, bob opens it as ~alice/… and his rights match IMAP's MYRIGHTS;
// an upgrade reaches bob's open page live; the server admin creates a
// public mailbox and hands its administration to carol, who shares it
// with dave and creates a sub-folder, and the explainer says why dave
// can read it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  startServer, launchBrowser, signIn, hydrated, imapSession, mail, output,
} from './mailroom.mjs';

let server;
let browser;
let alice;
let bob;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  const imap = await imapSession(server.imap, 'alice');
  await imap.command('CREATE Projects');
  await imap.append('Projects', mail({ subject: 'Project plan', body: 'Milestones inside.' }));
  imap.close();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const shot = (page, name) => page.screenshot({ path: join(output, `${name}.png`), fullPage: true });

/** MYRIGHTS over IMAP, as the letters. */
async function imapRights(user, mailbox) {
  const imap = await imapSession(server.imap, user);
  const reply = await imap.command(`MYRIGHTS "${mailbox}"`);
  imap.close();
  return reply.match(/\* MYRIGHTS "?[^"\s]+"? (\w+)/)[1];
}

/** The rights the sharing page lists as the user's own. */
async function webRights(page) {
  return (await page.locator('#my-rights [data-right]').evaluateAll(
    (items) => items.map((i) => i.dataset.right),
  )).join('');
}

/** Adds an entry on the open sharing page with a preset. */
async function addEntry(page, who, preset) {
  await page.fill('#add-entry input[name=identifier]', who);
  await page.selectOption('#add-entry select[name=preset]', preset);
  await page.click('#add-entry button.primary');
  await page.waitForSelector(`tr[data-entry="${who}@example.com"]`);
  assert.match(await page.textContent('.alert.notice'), new RegExp(`${who}@example.com now has`));
}

test('alice shares a folder with bob read-only through the form', async () => {
  alice = await signIn(browser, server, 'alice');
  await alice.click('.folders a[data-folder="Projects"]');
  await alice.waitForSelector('.msg-row:has-text("Project plan")');
  await alice.click('#sharing-link');
  await alice.waitForSelector('#add-entry');
  await hydrated(alice);
  assert.equal(await webRights(alice), 'lrswipkxtea', 'the owner has every right');
  await addEntry(alice, 'bob', 'read');
  assert.equal(await alice.locator('tr[data-entry="bob@example.com"] select').inputValue(), 'read');
  await shot(alice, '10-sharing-form');
});

test('bob opens ~alice/Projects, cannot delete there, and IMAP agrees on his rights', async () => {
  bob = await signIn(browser, server, 'bob');
  await bob.fill('#open-account input[name=account]', '~alice');
  await bob.press('#open-account input[name=account]', 'Enter');
  await bob.waitForSelector('tr[data-folder="~alice/Projects"]');
  assert.equal(await bob.locator('tr[data-folder="~alice/INBOX"]').count(), 0, 'a folder bob may not see');
  await shot(bob, '11-other-users-folders');
  await bob.click('tr[data-folder="~alice/Projects"] a[href^="/mail"]');
  await bob.waitForSelector('.msg-row:has-text("Project plan")');
  await hydrated(bob);
  assert.equal(await bob.locator('#list-form button[value=delete]').count(), 0, 'Delete offered with read rights');
  assert.equal(await bob.locator('.folders a[data-folder="~alice/Projects"]').count(), 1,
    'a folder shared with bob by name is in his tree');

  await bob.click('#sharing-link');
  await bob.waitForSelector('#my-rights');
  const rights = await webRights(bob);
  assert.equal(rights, 'lrs');
  assert.equal(await bob.locator('#add-entry').count(), 0, 'bob was offered the sharing form');
  assert.equal(await imapRights('bob', '~alice/Projects'), rights, 'web and IMAP disagree');
  await bob.goBack();
  await bob.waitForSelector('.msg-row:has-text("Project plan")');
});

test('alice upgrades bob to read-write and his open page offers the new actions live', async () => {
  await hydrated(bob);
  await bob.evaluate(() => { window.stillTheSamePage = true; });
  await alice.selectOption('tr[data-entry="bob@example.com"] select[name=preset]', 'read-write');
  await alice.click('tr[data-entry="bob@example.com"] form.entry > button');
  await alice.waitForSelector('.alert.notice:has-text("read-write")');
  await bob.waitForSelector('#list-form button[value=delete]');
  assert.equal(await bob.evaluate(() => window.stillTheSamePage), true, 'the page was reloaded');
  assert.equal(await bob.locator('#list-form button[value=read]').count(), 1);
  assert.equal(await imapRights('bob', '~alice/Projects'), 'lrswipte');
  await shot(bob, '12-upgraded-live');
});

test('a public mailbox is delegated to carol, who shares it and adds a sub-folder', async () => {
  const admin = await signIn(browser, server, 'admin');
  await admin.click('#admin-link');
  await admin.waitForSelector('#domains');
  await hydrated(admin);
  const domain = admin.locator('tr[data-domain="example.com"]');
  await domain.locator('input[name=name]').fill('Support');
  await domain.locator('button[value=create_public]').click();
  await admin.waitForSelector('.alert.notice:has-text("~public/Support created")');
  await shot(admin, '13-administration');
  await admin.click('a[href="/share?box=~public/Support"]');
  await admin.waitForSelector('#add-entry');
  await hydrated(admin);
  await addEntry(admin, 'carol', 'full');

  const carol = await signIn(browser, server, 'carol');
  await carol.click('.folders a[data-folder="~public/Support"]');
  await carol.waitForSelector('.list-head:has-text("~public/Support")');
  await carol.click('#sharing-link');
  await carol.waitForSelector('#add-entry');
  await hydrated(carol);
  await addEntry(carol, 'dave', 'read');

  await carol.goto(`${server.web}/mail?box=~public/Support`);
  await hydrated(carol);
  await carol.click('.manage summary');
  await carol.fill('#new-sub-folder input[name=name]', 'Archive');
  await carol.click('#new-sub-folder button');
  await carol.waitForSelector('.alert.notice:has-text("Folder created")');
  await carol.waitForSelector('.folders a[data-folder="~public/Support/Archive"]');

  // The sub-folder started with its parent's entries; ask why dave can read.
  await carol.goto(`${server.web}/share?box=~public/Support/Archive`);
  await carol.waitForSelector('tr[data-entry="dave@example.com"]');
  await hydrated(carol);
  await carol.fill('#why input[name=why]', 'dave');
  await carol.click('#why button');
  await carol.waitForSelector('.why-answer');
  const why = await carol.textContent('.why-answer');
  assert.match(why, /dave@example.com has “lrs”/);
  assert.match(why, /granted “lrs” by the entry dave@example\.com/);
  await shot(carol, '14-why-can-they-see-it');
  assert.equal(await imapRights('dave', '~public/Support/Archive'), 'lrs');
  assert.equal(await imapRights('carol', '~public/Support'), 'lrswipkxtea');

  for (const page of [alice, bob, admin, carol]) assert.deepEqual(page.errors, [], 'errors in the page');
});
