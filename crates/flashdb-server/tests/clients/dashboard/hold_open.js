// Opens the dashboard's overview in headless Chromium and keeps it open for SECONDS,
// for scripts/bench-dashboard-idle.sh (the server's CPU with one dashboard open).
//
//   node hold_open.js BASE_URL SECONDS

const puppeteer = require('puppeteer-core');

const [base, seconds] = process.argv.slice(2);

(async () => {
  const browser = await puppeteer.launch({
    executablePath: process.env.BROWSER_PATH || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 800 });
    await page.goto(base + '/#/overview', { waitUntil: 'networkidle0' });
    await page.waitForSelector('#cards .card');
    console.log('open');
    await new Promise((r) => setTimeout(r, Number(seconds) * 1000));
  } finally {
    await browser.close();
  }
})();
