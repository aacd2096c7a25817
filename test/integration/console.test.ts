// The web console in a real browser: Debian's chromium, headless, driven by puppeteer-core
// (no browser download). Signs in with the admin token, applies a layout, creates a bucket
// and a key, grants the key, uploads a file through the object browser, lists and downloads
// it, and checks that no page logged an error. Screenshots go to a temporary directory.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, existsSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { GarageProcess, freePort, s3Client, waitFor } from './harness.ts';

const TOKEN = 'console-admin-token';

describe('web console in chromium', () => {
  let g: GarageProcess;
  let browser: Browser;
  let page: Page;
  let base = '';
  const shots = mkdtempSync(join(tmpdir(), 'garage-console-'));
  const problems: string[] = [];

  const shot = async (name: string) => {
    await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  };
  const go = async (hash: string, text: string) => {
    await page.goto(`${base}/#${hash}`);
    await page.waitForFunction(`document.querySelector('main')?.textContent?.includes(${JSON.stringify(text)})`, {
      timeout: 20_000,
    });
  };
  // Browser-side code is given as text: this project's types have no DOM.
  const waitText = (text: string) =>
    page.waitForFunction(`document.body.textContent?.includes(${JSON.stringify(text)})`, { timeout: 20_000 });
  const setValue = (selector: string, value: string) =>
    page.evaluate(`document.querySelector(${JSON.stringify(selector)}).value = ${JSON.stringify(value)}`);

  before(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    g = await GarageProcess.create(`[admin]\napi_bind_addr = "127.0.0.1:${port}"\nadmin_token = "${TOKEN}"\n`);
    await g.start();
    browser = await puppeteer.launch({
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
    page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    page.on('pageerror', (e) => problems.push(`page error: ${e instanceof Error ? e.message : String(e)}`));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
    });
    page.on('requestfailed', (r) =>
      problems.push(`request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`),
    );
  });
  after(async () => {
    await browser?.close();
    await g.destroy();
    process.stdout.write(`# console screenshots in ${shots}\n`);
  });

  it('refuses a wrong token and signs in with the admin token (kept in session storage, not the URL)', async () => {
    await page.goto(`${base}/`);
    await page.waitForSelector('#token');
    await page.type('#token', 'wrong-token');
    await page.click('#signin-form button');
    await page.waitForFunction(`document.getElementById('signin-error')?.textContent !== ''`, { timeout: 10_000 });
    await setValue('#token', '');
    await page.type('#token', TOKEN);
    await page.click('#signin-form button');
    await waitText('Health');
    assert.doesNotMatch(page.url(), new RegExp(TOKEN));
    assert.equal(await page.evaluate(() => sessionStorage.getItem('garage-admin-token')), TOKEN);
    await shot('cluster-before-layout');
    // The refused token's 401 was expected; from here on nothing may fail.
    problems.length = 0;
  });

  it('applies a layout from the layout page', async () => {
    await go('layout', 'Staged changes');
    await page.type('input[name=zone]', 'dc1');
    await page.click('form.inline button[type=submit]');
    await waitText('zone dc1');
    await shot('layout-staged');
    const [apply] = await page.$$('xpath/.//button[text()="Apply"]');
    await apply!.click();
    await waitText('Current layout: version 1');
    await shot('layout-applied');
  });

  it('creates a bucket and a key, shows the secret once, and grants the key on the bucket', async () => {
    await go('buckets', 'Buckets');
    await page.type('input[name=name]', 'console-bucket');
    await page.click('form.inline button[type=submit]');
    await waitText('console-bucket');
    await shot('buckets');
    await go('keys', 'Access keys');
    await page.type('input[name=name]', 'console-key');
    await page.click('form.inline button[type=submit]');
    await page.waitForSelector('#new-key-secret', { timeout: 20_000 });
    // The secret stays on screen once the page has settled (it is shown this once only).
    await page.waitForNetworkIdle({ idleTime: 300 });
    assert.equal(await page.evaluate(`!!document.getElementById('new-key-secret')`), true);
    await shot('keys-secret-shown');
    await go('buckets', 'console-bucket');
    const [link] = await page.$$('xpath/.//a[text()="console-bucket"]');
    await link!.click();
    await waitText('Key permissions');
    await page.click('xpath/.//button[text()="Allow"]');
    // A granted key has a row, with its Revoke button.
    await waitText('Revoke');
    await shot('bucket-detail');
  });

  it('uploads a file through the object browser, lists it, downloads it, shows its metadata', async () => {
    await go('objects', 'Object browser');
    const keyId = String(await page.evaluate(`document.querySelector('#browser-key option:nth-child(2)').value`));
    await page.select('#browser-key', keyId);
    await page.waitForSelector('#browser-bucket', { timeout: 20_000 });
    await page.select('#browser-bucket', 'console-bucket');
    await page.click('#browser-open');
    await waitText('No object here yet.');
    const content = randomBytes(300_000);
    const file = join(shots, 'photo & notes (1).bin');
    writeFileSync(file, content);
    const input = await page.$('#upload-file');
    assert.ok(input);
    await input.uploadFile(file);
    await page.click('#upload-button');
    await page.waitForFunction(
      `[...document.querySelectorAll('.object-key')].some((e) => e.textContent === 'photo & notes (1).bin')`,
      { timeout: 30_000 },
    );
    await waitText('Uploaded photo & notes (1).bin');
    await shot('objects');

    // The bytes the browser sent are the bytes S3 serves.
    const info = await fetch(`${base}/v2/GetKeyInfo?id=${keyId}&showSecretKey=true`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    }).then((r) => r.json() as Promise<{ secretAccessKey: string }>);
    const s3 = s3Client(g, keyId, info.secretAccessKey);
    try {
      const got = await s3.send(new GetObjectCommand({ Bucket: 'console-bucket', Key: 'photo & notes (1).bin' }));
      assert.ok(Buffer.from(await got.Body!.transformToByteArray()).equals(content));
    } finally {
      s3.destroy();
    }

    const downloads = mkdtempSync(join(tmpdir(), 'garage-console-dl-'));
    const cdp = await page.createCDPSession();
    await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloads });
    await page.click('xpath/.//button[text()="download"]');
    const target = join(downloads, 'photo & notes (1).bin');
    await waitFor(
      'the download',
      () => existsSync(target) && readdirSync(downloads).every((f) => !f.endsWith('.crdownload')),
    );
    assert.ok(readFileSync(target).equals(content), 'the downloaded file is the uploaded one');
    await page.click('xpath/.//button[text()="metadata"]');
    await waitText('etag');
    await shot('object-metadata');
  });

  it('shows the other pages without errors', async () => {
    await go('cluster', 'Storage used per node');
    await shot('cluster');
    await go('tokens', 'Admin tokens');
    await page.type('input[name=name]', 'console-made');
    await page.click('form.inline button[type=submit]');
    await waitText('Shown once');
    await page.waitForNetworkIdle({ idleTime: 300 });
    assert.equal(await page.evaluate(`document.body.textContent.includes('Shown once')`), true);
    await shot('tokens');
    await go('workers', 'Background workers');
    await shot('workers');
    assert.deepEqual(problems, [], 'no page error, console error or failed request');
  });
});
