// The dashboard as a person sees it: starts the AppHost the way ./run.sh does (its launch profile's
// environment, dashboard on), opens the printed login URL in headless Chromium (Debian's
// chromium-headless-shell, driven by puppeteer-core, which never downloads a browser), waits until the
// resource grid shows six SleepyPid replica rows Running, checks there is no dev-certificate banner,
// and saves the screenshot the README shows (docs/images/dashboard.png).
// Ports: the AppHost's and the dashboard's, shifted by SERVE_TEST_PORT_OFFSET like the .NET tests'.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, mkdtempSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer from 'puppeteer-core';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const offset = Number(process.env.SERVE_TEST_PORT_OFFSET ?? 0);
const port = (p) => p + offset;
const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium-headless-shell';
const screenshot = process.env.DASHBOARD_SCREENSHOT ?? join(root, 'docs', 'images', 'dashboard.png');
const startTimeoutMs = 240_000;

/** Starts the AppHost in its own process group; resolves with the login URL it prints. */
function startAppHost(stateDir) {
  const profile = JSON.parse(readFileSync(join(root, 'src/AppHost/Properties/launchSettings.json'), 'utf8')).profiles.http;
  const env = { ...process.env, ...profile.environmentVariables };
  // The profile's own ports belong to ./run.sh; keep its settings, move the ports.
  env.ASPNETCORE_URLS = `http://localhost:${port(15180)}`;
  env.ASPIRE_DASHBOARD_OTLP_ENDPOINT_URL = `http://localhost:${port(19180)}`;
  env.ASPIRE_RESOURCE_SERVICE_ENDPOINT_URL = `http://localhost:${port(20180)}`;
  const args = ['run', '--project', join(root, 'src/AppHost'), '-c', process.env.CONFIGURATION ?? 'Debug', '--no-build', '--no-launch-profile', '--',
    '--Serve:RedisPort', String(port(16479)), '--Serve:ControllerPort', String(port(18365)), '--Serve:ProxyBasePort', String(port(18100)),
    '--Serve:StateDir', stateDir, '--Serve:Cluster', 'browser'];
  const child = spawn('dotnet', args, { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const loginUrl = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no login URL within ${startTimeoutMs / 1000} s:\n${output.slice(-3000)}`)), startTimeoutMs);
    const onData = (chunk) => {
      output += chunk;
      const m = output.match(/Login to the dashboard at (\S+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`the AppHost exited (${code}) before printing a login URL:\n${output.slice(-3000)}`)); });
  });
  return { child, loginUrl, output: () => output };
}

/** SIGTERM to the AppHost's process group, SIGKILL after 40 s (cleanup takes 13-18 s). */
async function stopAppHost(child) {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  process.kill(-child.pid, 'SIGTERM');
  const timer = setTimeout(() => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } }, 40_000);
  await exited;
  clearTimeout(timer);
}

test('the dashboard shows six Running replica resources, no certificate banner', { timeout: 420_000 }, async () => {
  assert.ok(existsSync(chromium), `no Chromium at ${chromium} (scripts/ensure-deps.sh installs chromium-headless-shell)`);
  const stateDir = mkdtempSync(join(tmpdir(), 'serveaspire-browser-'));
  const app = startAppHost(stateDir);
  let browser;
  try {
    const url = await app.loginUrl;
    assert.match(url, new RegExp(`^http://localhost:${port(15180)}/login\\?t=[0-9a-f]+$`));
    browser = await puppeteer.launch({
      executablePath: chromium,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    const page = await browser.newPage();
    await page.setViewport({ width: 1400, height: 900 });
    await page.goto(url, { waitUntil: 'domcontentloaded' });

    // The grid renders a few seconds after load, the replicas start after the controller (SleepyPid loads for 10 s):
    // wait for six replica rows whose state cell reads Running.
    const rows = await page.waitForFunction(() => {
      const replicaRows = [...document.querySelectorAll('[role="row"]')]
        .map((r) => [...r.querySelectorAll('[role="gridcell"]')].map((c) => c.innerText.trim()))
        .filter((cells) => /^SleepyPid-[a-z0-9]+$/.test(cells[0] ?? ''));
      return replicaRows.length === 6 && replicaRows.every((cells) => cells[1] === 'Running') ? replicaRows : null;
    }, { timeout: startTimeoutMs, polling: 500 }).then((h) => h.jsonValue());
    assert.equal(new Set(rows.map((cells) => cells[0])).size, 6);

    const text = await page.evaluate(() => document.body.innerText);
    assert.ok(!text.includes('No trusted development certificate'), 'the dashboard shows the dev-certificate banner');
    for (const node of ['node-0', 'node-1', 'node-2', 'controller-0', 'proxy-0', 'serve']) assert.ok(text.includes(node), `no ${node} row`);

    mkdirSync(dirname(screenshot), { recursive: true });
    await page.screenshot({ path: screenshot });
  } finally {
    await browser?.close();
    await stopAppHost(app.child);
    rmSync(stateDir, { recursive: true, force: true });
  }
});
