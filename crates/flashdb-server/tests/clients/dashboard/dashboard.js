// Drives the web dashboard in headless Chromium (Debian's, through puppeteer-core), as a
// user would: login (a wrong password first), every page, the console, the key explorer,
// the queues, pub/sub, settings, themes and a phone's screen. Run by tests/dashboard.rs,
// which prepares the data and checks the server's side afterwards.
//
//   node dashboard.js BASE_URL PASSWORD SCREENSHOT_DIR
//   node dashboard.js BASE_URL '' SCREENSHOT_DIR cluster NEW_ID NEW_RAFT_ADDR
//
// The second form works the cluster page of a replication group's node: it adds the
// node NEW_ID, then removes it.
//
// Prints one JSON line: what was seen, every browser console error and page error, and
// the step that failed, if one did.

const path = require('path');
const puppeteer = require('puppeteer-core');

const [base, password, shots, mode, newId, newAddr] = process.argv.slice(2);
const report = { steps: [], consoleErrors: [], pageErrors: [], dialogs: [], firstLoadBytes: 0 };
// BROWSER=firefox runs the same steps in Firefox (WebDriver BiDi).
const BROWSER = process.env.BROWSER || 'chrome';
const EXECUTABLE = process.env.BROWSER_PATH
  || (BROWSER === 'firefox' ? '/usr/bin/firefox-esr' : '/usr/bin/chromium');

let currentPage = null;

async function step(name, fn) {
  try {
    await fn();
    report.steps.push(name);
  } catch (e) {
    report.failed = { step: name, error: String(e && e.stack ? e.stack : e) };
    // What the page said at the time (its status lines), to explain the failure.
    if (currentPage) {
      report.failed.statuses = await currentPage.$$eval('[role="status"], [role="alert"], .error', (n) => n.map((x) => x.textContent)).catch(() => []);
    }
    throw e;
  }
}

async function text(page, selector) {
  return page.$eval(selector, (e) => e.textContent);
}

async function waitText(page, selector, wanted, timeout = 10000) {
  await page.waitForFunction(
    (sel, w) => [...document.querySelectorAll(sel)].some((e) => e.textContent.includes(w)),
    { timeout }, selector, wanted,
  );
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(shots, name + '.png') });
}

async function go(page, hash, ready) {
  await page.evaluate((h) => { location.hash = h; }, hash);
  await page.waitForSelector(ready, { timeout: 10000 });
}

async function clickButton(page, label) {
  const b = await page.waitForSelector(`button[aria-label="${label}"]`, { timeout: 10000 });
  await b.click();
}

async function confirm(page) {
  const yes = await page.waitForSelector('dialog[open] button[data-answer="yes"]', { timeout: 5000 });
  await yes.click();
}

/** The cluster page of a group: its members, then a node added and removed. */
async function clusterSteps(page) {
  const rows = () => page.$$eval('#cluster tbody tr', (r) => r.map((x) => x.firstChild.textContent));
  await step('cluster members', async () => {
    await page.goto(base + '/#/cluster', { waitUntil: 'networkidle0' });
    await page.waitForSelector('#cluster tbody tr');
    report.members = await rows();
    report.summary = await text(page, '#cluster p');
    report.roles = await page.$$eval('#cluster tbody tr', (r) => r.map((x) => x.children[3].textContent));
    await shot(page, 'cluster-group');
  });
  await step('add a node', async () => {
    await page.type('input[aria-label="New node id"]', newId);
    await page.type('input[aria-label="New node group address"]', newAddr);
    await page.click('#main form button[type="submit"]');
    await waitText(page, '#cluster-status', `Node ${newId} added.`, 30000);
    await page.waitForFunction((n) => document.querySelectorAll('#cluster tbody tr').length === n, { timeout: 10000 }, report.members.length + 1);
    report.afterAdd = await rows();
  });
  await step('remove a node', async () => {
    await clickButton(page, `Remove node ${newId}`);
    await confirm(page);
    await waitText(page, '#cluster-status', `Node ${newId} removed.`, 30000);
    await page.waitForFunction((n) => document.querySelectorAll('#cluster tbody tr').length === n, { timeout: 10000 }, report.members.length);
    report.afterRemove = await rows();
  });
}

(async () => {
  let browser = null;
  report.browser = BROWSER;
  try {
    browser = await puppeteer.launch(BROWSER === 'firefox'
      ? { browser: 'firefox', executablePath: EXECUTABLE, headless: true }
      : { executablePath: EXECUTABLE, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    const page = await browser.newPage();
    currentPage = page;
    await page.setViewport({ width: 1280, height: 800 });
    page.on('console', (m) => { if (m.type() === 'error') report.consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => report.pageErrors.push(String(e)));
    page.on('dialog', async (d) => { report.dialogs.push(d.message()); await d.dismiss(); });

    if (mode === 'cluster') {
      await clusterSteps(page);
      return;
    }

    await step('login page', async () => {
      await page.goto(base + '/', { waitUntil: 'networkidle0' });
      await page.waitForSelector('#login-pass');
      // What the first load transferred: the page and every file it loaded, headers
      // included, as the browser's own resource timing counts them.
      report.firstLoadBytes = await page.evaluate(() => performance.getEntriesByType('navigation')
        .concat(performance.getEntriesByType('resource'))
        .reduce((n, e) => n + e.transferSize, 0));
      report.firstLoadFiles = await page.evaluate(() => performance.getEntriesByType('resource').length + 1);
      report.securityHeaders = await page.evaluate(async () => {
        const r = await fetch('/');
        return { csp: r.headers.get('content-security-policy'), nosniff: r.headers.get('x-content-type-options') };
      });
      await shot(page, 'login');
    });

    await step('wrong password refused', async () => {
      await page.type('#login-pass', 'not-the-password');
      await page.click('form button[type="submit"]');
      await page.waitForFunction(() => document.querySelector('#login-error').textContent.length > 0);
      report.loginRefused = await text(page, '#login-error');
      report.stillOnLogin = (await page.$('#login-pass')) !== null;
    });

    await step('login', async () => {
      await page.$eval('#login-pass', (e) => { e.value = ''; });
      await page.type('#login-pass', password);
      await page.click('form button[type="submit"]');
      await page.waitForSelector('main[data-page="overview"] #cards .card', { timeout: 10000 });
    });

    await step('overview chart follows load', async () => {
      await page.waitForFunction(() => {
        const c = document.querySelector('#chart-ops');
        return c && c.dataset.last && JSON.parse(c.dataset.last)[0] !== null;
      }, { timeout: 15000 });
      report.opsBefore = JSON.parse(await page.$eval('#chart-ops', (c) => c.dataset.last))[0];
      // Load: pipelines of PINGs for three seconds, from the page itself.
      await page.evaluate(async (token) => {
        const body = JSON.stringify({ commands: Array.from({ length: 500 }, () => ['PING']) });
        const end = Date.now() + 3000;
        while (Date.now() < end) {
          await fetch('/api/v1/pipeline', { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + token }, body });
        }
      }, password);
      await page.waitForFunction(() => JSON.parse(document.querySelector('#chart-ops').dataset.last)[0] > 1000, { timeout: 10000 });
      report.opsDuringLoad = JSON.parse(await page.$eval('#chart-ops', (c) => c.dataset.last))[0];
      await shot(page, 'overview');
    });

    await step('console', async () => {
      await go(page, '#/console', '#console-input');
      await page.type('#console-input', 'SET greeting hello');
      await page.keyboard.press('Enter');
      await waitText(page, '#console-out .entry', 'OK');
      await page.type('#console-input', 'GET greeting');
      await page.keyboard.press('Enter');
      await waitText(page, '#console-out .entry .reply', '"hello"');
      // Several lines run as one pipeline; a map shows as a table, an error in red.
      await page.$eval('#console-input', (e) => { e.value = 'HSET profile name Ada lang en\nHGETALL profile\nINCR greeting'; });
      await page.keyboard.press('Enter');
      await waitText(page, '#console-out .entry .error', 'ERR value is not an integer or out of range');
      report.consoleTable = await page.$$eval('#console-out .entry table th', (ths) => ths.map((t) => t.textContent));
      // Completion and the argument hint come from COMMAND DOCS.
      await page.type('#console-input', 'ZRANGEBYS');
      await page.keyboard.press('Tab');
      await page.waitForFunction(() => document.querySelector('#console-hint').textContent.startsWith('ZRANGEBYSCORE key min max'));
      report.completed = await page.$eval('#console-input', (e) => e.value);
      await shot(page, 'console');
    });

    await step('key explorer', async () => {
      await go(page, '#/keys', '#keys-pattern');
      await page.$eval('#keys-pattern', (e) => { e.value = ''; });
      await page.type('#keys-pattern', 'user:*');
      await page.click('#keys-scan');
      await waitText(page, '#keys-list button', 'user:1');
      report.userKeys = await page.$$eval('#keys-list button', (b) => b.map((x) => x.textContent).sort());
      const [user1] = await page.$$('xpath/.//ul[@id="keys-list"]//button[text()="user:1"]');
      await user1.click();
      await waitText(page, '#key-type', 'hash');
      await clickButton(page, 'Edit field name');
      const input = await page.waitForSelector('input[aria-label="New value of name"]');
      await input.evaluate((e) => { e.value = ''; });
      await input.type('Grace');
      await page.evaluate(() => { [...document.querySelectorAll('#key-body button')].find((b) => b.textContent === 'Save').click(); });
      await waitText(page, '#key-body td', 'Grace');
      await shot(page, 'keys');
      // Delete, after the confirmation.
      await page.$eval('#keys-pattern', (e) => { e.value = 'todelete'; });
      await page.click('#keys-scan');
      await waitText(page, '#keys-list button', 'todelete');
      await page.click('#keys-list button');
      await page.waitForSelector('#key-delete');
      await page.click('#key-delete');
      await confirm(page);
      await waitText(page, '#key-detail', 'Deleted.');
    });

    await step('every type has a view', async () => {
      report.typeViews = {};
      for (const type of ['string', 'hash', 'list', 'set', 'zset', 'stream', 'queue']) {
        await page.$eval('#keys-pattern', (e) => { e.value = ''; });
        await page.type('#keys-pattern', 't:' + type);
        await page.click('#keys-scan');
        await waitText(page, '#keys-list button', 't:' + type);
        await page.click('#keys-list button');
        await waitText(page, '#key-type', type);
        await page.waitForSelector('#key-body table, #key-body pre, #key-body ol');
        report.typeViews[type] = (await text(page, '#key-body')).slice(0, 1000);
      }
      // The stream's editor adds an entry.
      await page.$eval('#keys-pattern', (e) => { e.value = 't:stream'; });
      await page.click('#keys-scan');
      await waitText(page, '#keys-list button', 't:stream');
      await page.click('#keys-list button');
      await page.waitForSelector('input[aria-label="Field of the new entry"]');
      await page.type('input[aria-label="Field of the new entry"]', 'added');
      await page.type('input[aria-label="Value of the new entry"]', 'by-the-dashboard');
      await page.evaluate(() => { [...document.querySelectorAll('#key-body button')].find((b) => b.textContent === 'Add entry').click(); });
      await waitText(page, '#key-body td', 'by-the-dashboard');
    });

    await step('a key named like markup shows as text', async () => {
      await page.$eval('#keys-pattern', (e) => { e.value = '*img*'; });
      await page.click('#keys-scan');
      await waitText(page, '#keys-list button', '<img');
      await page.click('#keys-list button');
      await page.waitForSelector('#key-name');
      report.xssKeyShown = await text(page, '#key-name');
      report.imagesInPage = await page.$$eval('main img', (i) => i.length);
    });

    await step('queues', async () => {
      await go(page, '#/queues', '#queues-table table');
      await waitText(page, '#queues-table td', 'jobs');
      await clickButton(page, 'Move dead letters of jobs back');
      await confirm(page);
      await waitText(page, '#queues-status', 'Moved 1 messages back to jobs');
      report.queueStatus = await text(page, '#queues-status');
      await shot(page, 'queues');
    });

    await step('pub/sub', async () => {
      await go(page, '#/pubsub', '#sub-name');
      await page.type('#sub-name', 'news');
      await page.keyboard.press('Enter');
      await waitText(page, '#subscriptions', 'channel:news');
      // The subscription reaches the server over the socket before the first publish
      // counts it: publish until one subscriber receives.
      for (let i = 0; i < 50; i++) {
        await page.$eval('#pub-channel', (e) => { e.value = 'news'; });
        await page.$eval('#pub-message', (e) => { e.value = 'hello from the dashboard'; });
        await page.click('#pub-channel');
        await page.keyboard.press('Enter');
        await page.waitForFunction(() => document.querySelector('#pub-status').textContent.includes('Delivered'));
        if ((await text(page, '#pub-status')).includes('Delivered to 1')) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      await waitText(page, '#messages td', 'hello from the dashboard');
      await shot(page, 'pubsub');
    });

    await step('slow log', async () => {
      await go(page, '#/slowlog', '#slowlog p');
      report.slowlogRows = await page.$$eval('#slowlog tbody tr', (r) => r.length);
      await shot(page, 'slowlog');
    });

    await step('settings', async () => {
      await go(page, '#/settings', 'tr[data-name="slowlog-max-len"]');
      await page.type('#settings-filter', 'slowlog');
      const input = await page.$('input[data-param="slowlog-max-len"]');
      await input.evaluate((e) => { e.value = ''; });
      await input.type('64');
      await clickButton(page, 'Set slowlog-max-len');
      await waitText(page, '#settings-status', 'slowlog-max-len set to 64');
      await shot(page, 'settings');
    });

    await step('cluster', async () => {
      await go(page, '#/cluster', '#cluster p');
      report.clusterText = await text(page, '#cluster');
      await shot(page, 'cluster');
    });

    await step('dark theme', async () => {
      await go(page, '#/overview', '#cards .card');
      await page.click('#theme');
      report.theme = await page.evaluate(() => document.documentElement.dataset.theme);
      report.darkBackground = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      await new Promise((r) => setTimeout(r, 1200));
      await shot(page, 'overview-dark');
      await page.click('#theme');
    });

    await step('phone', async () => {
      // (A change to isMobile reloads the page: the charts start again.)
      await page.setViewport({ width: 390, height: 844, isMobile: true });
      await go(page, '#/keys', '#keys-pattern');
      await go(page, '#/overview', '#cards .card');
      await new Promise((r) => setTimeout(r, 3500));
      report.phoneOverflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      await shot(page, 'phone');
      await page.setViewport({ width: 1280, height: 800 });
    });

    await step('keyboard', async () => {
      // From a fresh load, Tab goes through the page in order: the skip link first,
      // then the navigation.
      await page.goto(base + '/#/overview');
      await page.reload({ waitUntil: 'networkidle0' });
      await page.waitForSelector('#nav a');
      await page.keyboard.press('Tab');
      report.firstTab = await page.evaluate(() => document.activeElement.textContent);
      await page.keyboard.press('Tab');
      report.secondTab = await page.evaluate(() => document.activeElement.textContent);
    });

    await step('logout', async () => {
      await page.click('#logout');
      await page.waitForSelector('#login-pass');
      report.afterLogout = await page.evaluate(() => sessionStorage.getItem('flashdb.token'));
    });
  } catch (e) {
    // The report says which step failed (or, outside a step, what did).
    if (!report.failed) report.failed = { step: 'start', error: String(e && e.stack ? e.stack : e) };
  } finally {
    if (browser) await browser.close();
    console.log(JSON.stringify(report));
  }
})();
