// A team inbox in a real chromium: alice shares Team with bob; bob's IMAP
// client selecting it shows on alice's open folder page (and leaves with
// it), bob's reply in the web warns alice in her reader, alice assigns a
// message to bob and IMAP sees the keyword, the Activity page lists bob's
// IMAP expunge and alice's web move, and a conversation reads in order.
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

const thread = (from, subject, body, extra = '') => mail({
  from, to: 'team@example.com', subject, body, headers: extra,
});

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  const imap = await imapSession(server.imap, 'alice');
  await imap.command('CREATE Team');
  await imap.command('SETACL Team bob lrswite');
  await imap.append('Team', thread('Dave <dave@example.org>', 'Order 1001 is late', 'Where is my parcel?'));
  await imap.append('Team', thread('Alice <alice@example.com>', 'Re: Order 1001 is late', 'It left the warehouse today.'));
  await imap.append('Team', thread('Dave <dave@example.org>', 'Re: Order 1001 is late', 'Thanks, it arrived.'));
  await imap.append('Team', thread('Erin <erin@example.org>', 'Invoice question', 'Can I get a copy?'));
  imap.close();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const shot = (page, name) => page.screenshot({ path: join(output, `${name}.png`), fullPage: true });

async function openTeam(page) {
  await page.click('.folders a[data-folder="Team"], .folders a[data-folder="~alice/Team"]');
  await page.waitForSelector('#presence');
  await hydrated(page);
}

test('bob selecting ~alice/Team over IMAP shows on alice\'s open folder page, and leaves with him', async () => {
  alice = await signIn(browser, server, 'alice');
  await openTeam(alice);
  assert.equal(await alice.getAttribute('#presence', 'data-count'), '0');
  const imap = await imapSession(server.imap, 'bob');
  await imap.command('SELECT "~alice/Team"');
  const started = Date.now();
  await alice.waitForSelector('#presence [data-present="bob@example.com"][data-via="imap"]', { timeout: 5000 });
  console.log(`bob's SELECT → alice's page: ${Date.now() - started} ms`);
  await alice.waitForSelector('.folders a[data-folder="Team"] .avatar.tiny');
  await shot(alice, '40-team-presence');
  imap.close();
  await alice.waitForSelector('#presence [data-present="bob@example.com"]', { state: 'detached', timeout: 10000 });
  assert.deepEqual(alice.errors, []);
});

test('bob starts a reply on the web and alice\'s reader warns her', async () => {
  bob = await signIn(browser, server, 'bob');
  await bob.goto(`${server.web}/mail?box=${encodeURIComponent('~alice/Team')}`);
  await bob.click('.msg-row:has-text("Invoice question") a.msg-link');
  await bob.waitForSelector('#reply');
  await bob.click('#reply');
  await bob.waitForURL(/\/compose/);
  await hydrated(bob);
  await alice.click('.msg-row:has-text("Invoice question") a.msg-link');
  await alice.waitForSelector('.team-warning:has-text("bob@example.com is replying to this message")', { timeout: 5000 });
  await shot(alice, '41-team-reply-warning');
  assert.deepEqual(alice.errors, []);
});

test('alice assigns a message to bob and sets it waiting; IMAP sees the keywords', async () => {
  await alice.selectOption('#assign-form select[name=who]', 'bob@example.com');
  await alice.click('#assign-form button[type=submit]');
  await alice.waitForSelector('#assignment:has-text("Assigned to bob@example.com")');
  await alice.selectOption('#status-form select[name=status]', 'waiting');
  await alice.click('#status-form button[type=submit]');
  await alice.waitForSelector('#assignment:has-text("waiting")');
  await alice.fill('#note-form textarea[name=note]', 'Sent him the PDF by hand.');
  await alice.click('#note-form button[type=submit]');
  await alice.waitForSelector('.note:has-text("Sent him the PDF by hand.")');
  await alice.waitForSelector('.msg-row:has-text("Invoice question") .tag.assignee');
  await shot(alice, '42-team-assigned');
  const imap = await imapSession(server.imap, 'bob');
  await imap.command('SELECT "~alice/Team"');
  const flags = await imap.command('UID FETCH 4 (FLAGS)');
  imap.close();
  assert.match(flags, /\$Assigned-bob/);
  assert.match(flags, /\$Waiting/);
  // Bob's "Mine" filter finds it.
  await bob.goto(`${server.web}/mail?box=${encodeURIComponent('~alice/Team')}`);
  await hydrated(bob);
  await bob.click('#filter-mine');
  // The list is the filtered one once its chip is the active one.
  await bob.waitForSelector('#filter-mine.active');
  await bob.waitForSelector('.msg-row:has-text("Invoice question")');
  assert.equal(await bob.locator('.msg-row').count(), 1);
});

test('the Activity page lists bob\'s IMAP expunge and alice\'s web move, with how and when', async () => {
  const imap = await imapSession(server.imap, 'bob');
  await imap.command('SELECT "~alice/Team"');
  await imap.command('UID STORE 3 +FLAGS (\\Deleted)');
  await imap.command('UID EXPUNGE 3');
  imap.close();
  await alice.goto(`${server.web}/mail?box=Team`);
  await hydrated(alice);
  await alice.check('.msg-row:has-text("Invoice question") input[name=uid]');
  await alice.selectOption('#list-form select[name=target]', 'INBOX');
  await alice.click('#list-form button[value=move]');
  await alice.waitForSelector('.alert.notice:has-text("Moved")');
  await alice.goto(`${server.web}/mail?box=Team`);
  await alice.click('#activity-link');
  await alice.waitForSelector('#activity tr[data-what="expunged"][data-actor="bob@example.com"][data-via="imap"]');
  await alice.waitForSelector('#activity tr[data-what="moved-out"][data-actor="alice@example.com"][data-via="web"]');
  await shot(alice, '43-team-activity');
  assert.deepEqual(alice.errors, []);
});

test('the list groups a conversation, and the conversation reads in order', async () => {
  await alice.goto(`${server.web}/mail?box=Team`);
  await hydrated(alice);
  await alice.click('#threads-toggle');
  await alice.waitForSelector('#threads-toggle:has-text("Show every message")');
  await alice.waitForSelector('.msg-row .thread-count');
  assert.equal(await alice.locator('.msg-row').count(), 1, 'one line for the conversation');
  assert.match(await alice.textContent('.msg-row .thread-count'), /\(2\)/);
  await alice.click('.msg-row:has-text("Order 1001") a.msg-link');
  await alice.click('#conversation-link');
  await alice.waitForSelector('#conversation article');
  const texts = await alice.locator('#conversation article pre').allTextContents();
  assert.equal(texts.length, 2, 'the expunged one is gone');
  assert.match(texts[0], /Where is my parcel/);
  assert.match(texts[1], /left the warehouse/);
  await shot(alice, '44-team-conversation');
});
