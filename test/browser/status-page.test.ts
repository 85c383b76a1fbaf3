import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { chromium, type Browser, type Page } from 'playwright-core';
import { repoRoot } from '../helpers/cli.js';
import { createLogger } from '../../agent/log.js';
import { hashPassword } from '../../agent/status/auth.js';
import { writeScene } from '../../scripts/demo-scene/index.js';
import { startDemoStatus, type DemoStatus } from './demo-status.js';

/**
 * The status page as an operator uses it, in Debian's Chromium (headless, driven by playwright-core), served
 * by the real agent (composeAgent, as `edge-agent run --simulate-outputs`) running the demo clip, on its own
 * health listener and fed by its event bus (see ./demo-status.ts). Screenshots of every view are kept in
 * test-artifacts/status-page/.
 */
const CHROMIUM = '/usr/bin/chromium';
const modelReady = existsSync(join(repoRoot, 'models', 'conveyor-demo', 'manifest.json'));
const PASSWORD = 'correct horse battery';
const ARTIFACTS = join(repoRoot, 'test-artifacts', 'status-page');

if (!existsSync(CHROMIUM)) console.warn(`status page browser tests skipped: ${CHROMIUM} is missing (scripts/setup.sh --test installs Debian's chromium)`);
if (!modelReady) console.warn('status page browser tests skipped: models/conveyor-demo is missing');
const built = existsSync(join(repoRoot, 'dist', 'agent', 'actuators', 'worker.js'));
if (!built) console.warn('status page browser tests skipped: dist/ is not built (npm run build): the agent runs its outputs on the compiled worker');

// In CI (scripts/test.sh after `scripts/setup.sh --test` and the build) the browser tests must run: a missing
// Chromium or build there is a failure, not a skip.
if (process.env.CI && (!existsSync(CHROMIUM) || !modelReady || !built)) {
  it('has Chromium, the demo model and dist/ in CI', () => {
    expect.fail(`the status page browser tests cannot run in CI: ${[!existsSync(CHROMIUM) && `${CHROMIUM} missing (scripts/setup.sh --test)`, !modelReady && 'models/conveyor-demo missing', !built && 'dist/ not built (npm run build)'].filter(Boolean).join(', ')}`);
  });
}

type JournalLine = { ts: string; output: string; value: number; reason: string };

describe.skipIf(!existsSync(CHROMIUM) || !modelReady || !built)('status page in Chromium, served by the running agent', () => {
  let dir: string;
  let demo: DemoStatus;
  let browser: Browser;
  let page: Page;
  const logLines: string[] = [];
  const pageErrors: string[] = [];
  const journal = () => (existsSync(join(dir, 'outputs.jsonl')) ? readFileSync(join(dir, 'outputs.jsonl'), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as JournalLine) : []);
  const shot = async (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'edge-agent-status-'));
    mkdirSync(ARTIFACTS, { recursive: true });
    await writeScene(dir, { seed: 5151 });
    const cfg = parse(readFileSync(join(repoRoot, 'config', 'conveyor-demo.yaml'), 'utf8')) as Record<string, Record<string, unknown>>;
    cfg.source!.path = join(dir, 'conveyor.mp4');
    cfg.model!.manifest = join(repoRoot, 'models', 'conveyor-demo', 'manifest.json');
    cfg.outputs!.test_lamp = { driver: { type: 'dry-run' }, maxOnMs: 500, dailyMaxOnS: 60 };
    // The page is served by the agent on its health listener (the demo config turns health off).
    cfg.health = { enabled: true, listen: '127.0.0.1:0' };
    cfg.events = { jsonl: join(dir, 'events.jsonl') };
    cfg.status = { passwordHash: hashPassword(PASSWORD, { N: 1 << 12, r: 8, p: 1 }), maxFps: 8 };
    writeFileSync(join(dir, 'config.yaml'), `# Written by the status page test: this comment must survive a zone save.\n${stringify(cfg)}`);
    const log = createLogger({ level: 'info', pretty: false, stream: { write: (s: string) => logLines.push(s) } as never });
    demo = await startDemoStatus({ config: join(dir, 'config.yaml'), journal: join(dir, 'outputs.jsonl'), stateDir: join(dir, 'state'), log });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (m) => m.type() === 'error' && !/the server responded with a status of 4\d\d/.test(m.text()) && pageErrors.push(m.text()));
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await demo?.stop();
  });

  it('asks for the password, refuses a wrong one, and encodes no frame for nobody', async () => {
    await page.goto(demo.url);
    await expect.poll(() => page.isVisible('#login')).toBe(true);
    // Frames flow through the pipeline, but nobody can watch yet: the frame provider is never called.
    await expect.poll(() => demo.truth.size, { timeout: 30_000 }).toBeGreaterThan(10);
    expect(demo.providerCalls()).toBe(0);
    expect(demo.feed.liveView(demo.camera)!.counters.provided).toBe(0);
    await page.fill('#password', 'wrong password');
    await page.press('#password', 'Enter');
    await expect.poll(() => page.textContent('#message')).toContain('Login refused: wrong password');
    expect(logLines.some((l) => l.includes('login refused'))).toBe(true);
    await shot('login');
  });

  it('refuses an action without a login, and without the CSRF token', async () => {
    const lampLines = () => journal().filter((l) => l.output === 'test_lamp').length;
    const before = lampLines();
    const anon = await fetch(`${demo.url}/status/output/test`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ output: 'test_lamp', mode: 'pulse', ms: 50 }) });
    expect(anon.status).toBe(401);
    expect(((await anon.json()) as { error: string }).error).toBe('log in first');
    const login = await fetch(`${demo.url}/status/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: PASSWORD }) });
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const noCsrf = await fetch(`${demo.url}/status/output/test`, { method: 'POST', headers: { 'content-type': 'application/json', cookie }, body: JSON.stringify({ output: 'test_lamp', mode: 'pulse', ms: 50 }) });
    expect(noCsrf.status).toBe(403);
    const { csrf } = (await login.clone().json().catch(() => ({}))) as { csrf?: string };
    const otherSite = await fetch(`${demo.url}/status/output/test`, { method: 'POST', headers: { 'content-type': 'application/json', cookie, 'x-csrf-token': csrf ?? '', origin: 'http://evil.example' }, body: '{}' });
    expect(otherSite.status).toBe(403);
    // Data needs the login too: no state, no frames, no events stream.
    for (const p of ['/status/state', '/status/events', `/status/frame/${demo.camera}.jpg`]) expect((await fetch(`${demo.url}${p}`)).status).toBe(401);
    expect(lampLines()).toBe(before);
    expect(demo.providerCalls()).toBe(0);
  });

  it('logs in with the keyboard and shows the live picture with the boxes the pipeline found', async () => {
    await page.focus('#password');
    await page.keyboard.type(PASSWORD);
    await page.keyboard.press('Enter');
    await expect.poll(() => page.isVisible('#who')).toBe(true);
    // The page now watches: frames are provided and encoded.
    await expect.poll(() => demo.feed.liveView(demo.camera)!.counters.encoded, { timeout: 20_000 }).toBeGreaterThan(2);
    // Read what the page shows (frame number in the caption, the canvas pixels) in one go, then compare with what
    // the pipeline produced for that frame: every detection listed, every box outline drawn where its box is.
    let seen: { seq: number; text: string; w: number; h: number; px: number[] } | undefined;
    await expect
      .poll(async () => {
        const s = await page.evaluate((cam) => {
          const c = document.getElementById(`cam-${cam}`) as HTMLCanvasElement;
          const text = document.getElementById(`dets-${cam}`)!.textContent ?? '';
          return { text, w: c.width, h: c.height, px: Array.from(c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data) };
        }, demo.camera);
        const seq = Number(/frame (\d+):/.exec(s.text)?.[1]);
        if (demo.truth.get(seq)?.detections.length) seen = { seq, ...s };
        return Boolean(seen);
      }, { timeout: 30_000 })
      .toBe(true);
    const { seq, text, w, h, px } = seen!;
    const dets = demo.truth.get(seq)!.detections;
    // Scores travel rounded to 4 decimals, and the page shows 2.
    for (const d of dets) expect(text).toContain(`${d.label} #${d.trackId} ${(Math.round(d.score * 1e4) / 1e4).toFixed(2)}`);
    const boxColour = (x: number, y: number) => {
      const i = (Math.round(y) * w + Math.round(x)) * 4;
      const [r, g, b] = [px[i]!, px[i + 1]!, px[i + 2]!];
      return (r > 200 && g < 80 && b < 80) || (g > 150 && r < 80 && b < 100); // red (defect, fired) or green (part)
    };
    for (const d of dets) {
      const [x1, y1, x2, y2] = d.box;
      // Left edge, half-way down: the stroke (2-3 px) is centred on the box's edge.
      const y = ((y1 + y2) / 2) * h;
      const hit = [-1, 0, 1].some((dx) => boxColour(x1 * w + dx, y));
      expect(hit, `box of ${d.label} #${d.trackId} at ${JSON.stringify(d.box)} is drawn on the picture`).toBe(true);
      expect(boxColour(((x1 + x2) / 2) * w, y), 'inside the box is the picture, not the outline').toBe(false);
      void x2;
    }
    await shot('live');
    // A firing stays on screen for a few seconds (banner and red box): keep the canvas as drawn while it is up.
    let firedPng: string | undefined;
    await expect
      .poll(async () => {
        firedPng = await page.evaluate((cam) => (/^Rule defect fired: defect track \d+$/.test(document.getElementById(`fired-${cam}`)!.textContent ?? '') ? (document.getElementById(`cam-${cam}`) as HTMLCanvasElement).toDataURL('image/png') : undefined), demo.camera);
        return Boolean(firedPng);
      }, { timeout: 60_000 })
      .toBe(true);
    writeFileSync(join(ARTIFACTS, 'live-fired.png'), Buffer.from(firedPng!.split(',')[1]!, 'base64'));
  });

  it('shows a new event without a reload, with the box the live view had for its track', async () => {
    await page.click('a[href="#events"]');
    const before = demo.events.length;
    await expect.poll(() => demo.events.length, { timeout: 60_000 }).toBeGreaterThan(before);
    const ev = demo.events.at(-1)!;
    await expect.poll(() => page.locator(`tr[data-event="${ev.id}"]`).count(), { timeout: 10_000 }).toBe(1);
    const row = (await page.textContent(`tr[data-event="${ev.id}"]`))!;
    expect(row).toContain(ev.rule);
    expect(row).toContain(String(ev.trackId));
    // The actions as the event records them (a pulse is "scheduled", or "missed" when a busy machine was late).
    const pulse = ev.actions.find((a) => a.type === 'pulse')!;
    expect(row).toContain(`pulse reject_gate: ${pulse.status}`);
    if (pulse.status !== 'scheduled') console.warn(`event ${ev.id}: the reject pulse was ${pulse.status} (${'detail' in pulse ? pulse.detail : ''})`);
    expect(row).toContain('queued');
    // The event's box is the box of its track in the frame it fired on, as the live view received it.
    const t = demo.truth.get(ev.frame.seq)!;
    const det = t.detections.find((x) => x.trackId === ev.trackId)!;
    expect(det.label).toBe(ev.label);
    det.box.forEach((v, i) => expect(Math.abs(v - ev.bbox[i]!)).toBeLessThan(1e-3));
    expect(t.fired.map((f) => f.rule)).toContain(ev.rule);
    await expect.poll(() => page.locator(`tr[data-event="${ev.id}"] img`).count(), { timeout: 10_000 }).toBe(1);
    await page.waitForFunction((id) => (document.querySelector(`tr[data-event="${id}"] img`) as HTMLImageElement | null)?.naturalWidth, ev.id);
    await shot('events');
  });

  it('the test button, reached with the keyboard, makes exactly one pulse in the output journal', async () => {
    await page.goto(`${demo.url}/#live`);
    await expect.poll(() => page.isVisible('#who')).toBe(true);
    const lamp = () => journal().filter((l) => l.output === 'test_lamp' && l.value === 1);
    expect(lamp()).toHaveLength(0);
    // Tab to the Outputs link, Enter, then Tab to the test button of test_lamp and press Enter.
    const tabTo = async (test: string) => {
      for (let i = 0; i < 40; i++) {
        await page.keyboard.press('Tab');
        if (await page.evaluate(test)) return;
      }
      throw new Error(`could not reach ${test} with Tab`);
    };
    await tabTo(`document.activeElement.getAttribute('href') === '#outputs'`);
    await page.keyboard.press('Enter');
    await expect.poll(() => page.isVisible('#outputs')).toBe(true);
    await tabTo(`document.activeElement.id === 'out-test_lamp-test'`);
    await page.keyboard.press('Enter');
    await expect.poll(() => page.textContent('#message')).toContain('test_lamp: pulse of 100 ms scheduled');
    // The pulse's own on and off lines (a stall on a busy machine may add safe-state lines of its own).
    const pulseDone = () => {
      const lines = journal().filter((l) => l.output === 'test_lamp');
      const on = lines.findIndex((l) => l.value === 1);
      return on >= 0 && lines.slice(on + 1).some((l) => l.value === 0);
    };
    await expect.poll(pulseDone, { timeout: 5_000 }).toBe(true);
    expect(lamp()).toHaveLength(1);
    expect(lamp()[0]!.reason).toContain('status page test by operator@');
    await expect.poll(() => page.textContent('#outputs'), { timeout: 5_000 }).toMatch(/fired.*: status page test by operator@/);
    await expect.poll(async () => (await page.textContent('#outputs'))!.replace(/\s+/g, ' '), { timeout: 5_000 }).toMatch(/test_lamp inactive.*1 actuation, 0 refused/);
    await shot('outputs');
  });

  it('refuses a test longer than the output allows, with the reason on the page and in the log', async () => {
    const before = journal().filter((l) => l.output === 'test_lamp').length;
    await page.fill('#out-test_lamp-ms', '900');
    await page.click('#out-test_lamp-test');
    await expect.poll(() => page.textContent('#message')).toContain('pulse of 900 ms is longer than output "test_lamp" allows (maxOnMs 500)');
    expect(logLines.some((l) => l.includes('output test refused') && l.includes('maxOnMs 500'))).toBe(true);
    expect(journal().filter((l) => l.output === 'test_lamp').length).toBe(before);
  });

  it('zone editor: draws a polygon, refuses bad zones and a stale save, saves a good one and reloads', async () => {
    await page.click('a[href="#zones"]');
    await page.click('#zone-clear');
    const at = async (x: number, y: number) => {
      const canvas = page.locator('#zone-canvas');
      await canvas.scrollIntoViewIfNeeded();
      const box = (await canvas.boundingBox())!;
      await page.mouse.click(box.x + 1 + x * (box.width - 2), box.y + 1 + y * (box.height - 2)); // inside the 1 px border
    };
    await at(0.1, 0.1);
    await at(0.9, 0.1);
    // Two points: refused on the page before anything is sent.
    await page.click('#zone-save');
    await expect.poll(() => page.textContent('#message')).toContain('A zone needs at least 3 points');
    await at(0.9, 0.9);
    await at(0.1, 0.9);
    const yaml = await page.inputValue('#zone-yaml');
    const drawnPoly = (parse(yaml) as { zone: { polygon: number[][] } }).zone.polygon;
    expect(drawnPoly).toHaveLength(4);
    [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]].forEach(([x, y], i) => {
      expect(Math.abs(drawnPoly[i]![0]! - x!)).toBeLessThan(0.01);
      expect(Math.abs(drawnPoly[i]![1]! - y!)).toBeLessThan(0.01);
    });

    // The server checks too: a point outside the picture, fewer than 3 points.
    const csrf = await page.evaluate(async () => ((await (await fetch('/status/session')).json()) as { csrf: string }).csrf);
    const post = (body: unknown) => page.evaluate(async ([b, c]) => {
      const r = await fetch('/status/zone', { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': c as string }, body: JSON.stringify(b) });
      return { status: r.status, body: await r.json() };
    }, [body, csrf] as const);
    const file = join(dir, 'config.yaml');
    const original = readFileSync(file, 'utf8');
    const hash = (await (await page.evaluate(async () => (await fetch('/status/state')).json())) as { configHash: string }).configHash;
    const outside = await post({ rule: 'defect', polygon: [[0, 0], [1.2, 0], [1, 1]], test: 'center', configHash: hash });
    expect(outside.status).toBe(400);
    expect(outside.body.error).toContain('outside the picture');
    const two = await post({ rule: 'defect', polygon: [[0, 0], [1, 0]], test: 'center', configHash: hash });
    expect(two.body.error).toContain('at least 3 points');
    expect(readFileSync(file, 'utf8')).toBe(original);

    // A second operator saved first: this page's hash is stale, nothing is written.
    copyFileSync(file, `${file}.bak`);
    writeFileSync(file, `${original}# edited by someone else\n`);
    await page.click('#zone-save');
    await expect.poll(() => page.textContent('#message')).toContain('the config file changed since this page loaded it');
    expect(readFileSync(file, 'utf8')).toBe(`${original}# edited by someone else\n`);
    copyFileSync(`${file}.bak`, file);

    const reloads = demo.reloads.length;
    await page.click('#zone-save');
    await expect.poll(() => page.textContent('#message')).toContain('zone of rule defect saved; rules reloaded (defect)');
    const saved = parse(readFileSync(file, 'utf8')) as { rules: Array<{ zone: { polygon: number[][] } }> };
    expect(saved.rules[0]!.zone.polygon).toHaveLength(4);
    expect(saved.rules[0]!.zone.polygon[1]![0]).toBeCloseTo(0.9, 1);
    expect(readFileSync(file, 'utf8')).toContain('# Written by the status page test: this comment must survive a zone save.');
    expect(demo.reloads.length).toBe(reloads + 1);
    expect(logLines.some((l) => l.includes('zone of rule defect saved'))).toBe(true);
    await shot('zones');
  });

  it('"why this model": board, variants with their utility and reasons, per-stage latency and fps', async () => {
    await page.click('a[href="#model"]');
    await expect.poll(() => page.textContent('#doctor')).toContain('Running conveyor-demo');
    const text = (await page.textContent('#model'))!;
    expect(text).toMatch(/Board: /);
    expect(text).toContain('(running)');
    await expect.poll(() => page.textContent('#perf-line')).toMatch(/\d+\.\d frames\/s/);
    expect(await page.locator('#perf-rows tr').count()).toBeGreaterThanOrEqual(7);
    await shot('model');
    expect(pageErrors).toEqual([]);
  });

  it('stops encoding when nobody watches any more', async () => {
    await page.close();
    const live = demo.feed.liveView(demo.camera)!;
    await expect.poll(() => live.watching(), { timeout: 10_000 }).toBe(false);
    const calls = demo.providerCalls();
    const offered = live.counters.offered;
    await expect.poll(() => live.counters.offered, { timeout: 10_000 }).toBeGreaterThan(offered + 10);
    expect(demo.providerCalls()).toBe(calls);
  });
});
