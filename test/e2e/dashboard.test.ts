import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { spawnRivulet } from '../helpers/rivulet-process.js';
import { tempDir, waitFor } from '../helpers/tmp.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

test('the dashboard shows topic rates and a live alert as it happens, in a real browser', async () => {
  assert.ok(fs.existsSync(CHROMIUM), `Chromium is needed at ${CHROMIUM}: run 'apt-get install -y chromium' (npm test does it as root)`);
  const tmp = tempDir();
  // Closed to anonymous callers: the page gets the admin key in its address, as a user would give it.
  const rivulet = await spawnRivulet(tmp.dir, ['--pipeline', 'test/fixtures/fraud-strict.ts'], { anonymous: false });
  const key = fs.readFileSync(path.join(tmp.dir, 'admin.key'), 'utf8').trim();
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${rivulet.url}/?token=${encodeURIComponent(key)}`);
    await page.locator('#conn.live').waitFor({ timeout: 15_000 });
    // The feed follows 'alerts'; raise one while the page is open.
    const payments = [5_000, 6_000, 7_000].map((ts) => ({ card: 'card-1234', amount: 50, ts }));
    payments.push({ card: 'card-1234', amount: 1, ts: 120_000 });
    const res = await fetch(`${rivulet.url}/v1/topics/payments/events`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify(payments) });
    assert.equal(res.status, 200);
    const row = page.locator('#feed tr', { hasText: 'card-1234' });
    await row.waitFor({ timeout: 15_000 });
    assert.match(await row.innerText(), /too_many_payments/);
    // Metrics arrive once a second: the payments row shows the 4 records once the next frame is in.
    await waitFor('payments to show 4 records', async () => /\t4$/.test(await page.locator('#topics tr', { hasText: 'payments' }).innerText()));
    assert.match(await page.locator('#pipelines').innerText(), /fraud\s+running/);
    assert.equal(await page.locator('#eps-topic').innerText(), 'into payments');
    assert.deepEqual(errors, []);
    if (process.env.RIVULET_SCREENSHOT) await page.screenshot({ path: process.env.RIVULET_SCREENSHOT, fullPage: true });
  } finally {
    await browser.close();
    await rivulet.stop();
    tmp.remove();
  }
});
