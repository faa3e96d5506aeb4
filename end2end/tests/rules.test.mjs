// Rules in a real chromium: alice writes a rule on the rules page that
// files "[news]" mail into her News folder; a message delivered over LMTP
// lands there, not in the INBOX. A second rule tries to copy into bob's
// INBOX, where alice has no right: the copy is not made and the page
// shows why. Editing a rule changes it in place.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  startServer, launchBrowser, signIn, hydrated, imapSession, lmtpDeliver, mail, output,
} from './mailroom.mjs';

let server;
let browser;
let alice;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  const imap = await imapSession(server.imap, 'alice');
  await imap.command('CREATE News');
  imap.close();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const shot = (page, name) => page.screenshot({ path: join(output, `${name}.png`), fullPage: true });

/** Fills row `n` of the condition rows. */
async function condition(page, n, field, test, value) {
  const row = page.locator('.condition-row').nth(n);
  await row.locator('select[name=cond_field]').selectOption(field);
  await row.locator('select[name=cond_test]').selectOption(test);
  await row.locator('input[name=cond_value]').fill(value);
}

/** Fills row `n` of the action rows. */
async function action(page, n, word, arg = '') {
  const row = page.locator('.action-row').nth(n);
  await row.locator('select[name=action]').selectOption(word);
  await row.locator('input[name=arg]').fill(arg);
}

async function openRules(page) {
  await page.goto(`${server.web}/mail`);
  await hydrated(page);
  await page.click('#rules-link');
  await page.waitForSelector('#rule-form');
  await hydrated(page);
}

test('alice writes a rule that files [news] mail into News', async () => {
  alice = await signIn(browser, server, 'alice');
  await openRules(alice);
  assert.match(await alice.textContent('#no-rules'), /No rules yet/);
  await alice.fill('#rule-form input[name=name]', 'Newsletters');
  await condition(alice, 0, 'subject', 'contains', '[news]');
  await action(alice, 0, 'fileinto', 'News');
  await action(alice, 1, 'flag', '$Newsletter');
  await alice.click('#rule-form button[value=save]');
  await alice.waitForSelector('tr[data-rule="Newsletters"]');
  assert.match(await alice.textContent('.alert.notice'), /Rule “Newsletters” added/);
  assert.match(
    await alice.textContent('tr[data-rule="Newsletters"] .rule-words'),
    /if subject contains "\[news\]" then fileinto News, flag \$Newsletter/,
  );
  await shot(alice, '20-rules-page');

  const reply = await lmtpDeliver(server.lmtp, 'alice@example.com',
    mail({ subject: '[news] November issue', body: 'All the news.' }));
  assert.match(reply, /^250 2\.0\.0 .*News/);
  await lmtpDeliver(server.lmtp, 'alice@example.com', mail({ subject: 'Lunch', body: 'At noon?' }));

  await alice.goto(`${server.web}/mail?box=News`);
  await alice.waitForSelector('.msg-row:has-text("[news] November issue")');
  await alice.goto(`${server.web}/mail?box=INBOX`);
  await alice.waitForSelector('.msg-row:has-text("Lunch")');
  assert.equal(await alice.locator('.msg-row:has-text("[news] November issue")').count(), 0,
    'filed, not kept in the INBOX');
});

test('a copy into a mailbox alice has no right on is not made, and the page says why', async () => {
  await openRules(alice);
  await alice.fill('#rule-form input[name=name]', 'Escalate');
  await alice.selectOption('#rule-form select[name=any]', 'any');
  await condition(alice, 0, 'subject', 'contains', 'urgent');
  await condition(alice, 1, 'header', 'is', 'high');
  await alice.locator('.condition-row').nth(1).locator('input[name=cond_header]').fill('X-Priority');
  await action(alice, 0, 'copy', '~bob/INBOX');
  await alice.click('#rule-form button[value=save]');
  await alice.waitForSelector('tr[data-rule="Escalate"]');

  await lmtpDeliver(server.lmtp, 'alice@example.com', mail({ subject: 'urgent: server down', body: 'Help.' }));
  await openRules(alice);
  const problem = await alice.textContent('tr[data-rule="Escalate"] .rule-problem');
  // alice may not even see bob's INBOX: the reason says so, exactly as
  // for a mailbox that does not exist.
  assert.match(problem, /copy ~bob\/INBOX not done .*cannot see a mailbox ~bob\/INBOX/);
  await shot(alice, '21-rule-problem');

  const bob = await imapSession(server.imap, 'bob');
  const status = await bob.command('STATUS INBOX (MESSAGES)');
  bob.close();
  assert.match(status, /MESSAGES 0/, 'nothing reached bob');
  assert.deepEqual(alice.errors, []);
});

test('editing a rule changes it in place', async () => {
  await alice.click('tr[data-rule="Newsletters"] a:has-text("Edit")');
  await alice.waitForSelector('#rule-form h2:has-text("Change rule")');
  await hydrated(alice);
  assert.equal(await alice.locator('.action-row').nth(0).locator('input[name=arg]').inputValue(), 'News');
  await action(alice, 1, 'stop');
  await alice.click('#rule-form button[value=save]');
  await alice.waitForSelector('.alert.notice');
  assert.match(await alice.textContent('.alert.notice'), /Rule “Newsletters” changed/);
  assert.match(await alice.textContent('tr[data-rule="Newsletters"] .rule-words'), /fileinto News, stop/);
  assert.equal(await alice.locator('tr[data-rule]').count(), 2, 'changed, not added');
  assert.deepEqual(alice.errors, []);
});
