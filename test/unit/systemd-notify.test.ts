import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NotifyReceiver as Receiver } from '../helpers/notify-receiver.js';
import { createNotifier, watchdogUsec } from '../../drivers/systemd/notify.js';
import { encodeSockaddr } from '../../drivers/systemd/notify-socket.js';
import { Watchdog } from '../../agent/health/watchdog.js';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((f) => f()));

describe('sd_notify over a real datagram socket', () => {
  for (const kind of ['path', 'abstract'] as const) {
    it(`sends the exact datagrams from our own PID (${kind} NOTIFY_SOCKET)`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'edge-notify-'));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      const addr = kind === 'path' ? join(dir, 'notify.sock') : `@edge-agent-test-${process.pid}-${Date.now()}`;
      const rx = await Receiver.start(addr);
      cleanups.push(() => rx.stop());

      const n = createNotifier({ env: { NOTIFY_SOCKET: addr } });
      cleanups.push(() => n.close());
      expect(n.enabled).toBe(true);
      n.ready('14.9 fps, ssd-int8 on cpu\nsecond line');
      n.watchdog();
      n.status('degraded: coral-usb missing');
      n.extendTimeout(1500);
      n.stopping('stopping: SIGTERM');

      const got = await rx.waitFor(5);
      expect(got.map((g) => g.data)).toEqual([
        'READY=1\nSTATUS=14.9 fps, ssd-int8 on cpu second line',
        'WATCHDOG=1',
        'STATUS=degraded: coral-usb missing',
        'EXTEND_TIMEOUT_USEC=1500000',
        'STOPPING=1\nSTATUS=stopping: SIGTERM',
      ]);
      // The kernel-attested sender is this process: what systemd's NotifyAccess=main requires.
      expect(got.every((g) => g.pid === process.pid)).toBe(true);
    });
  }

  it('reloading carries MONOTONIC_USEC (needed by Type=notify-reload)', async () => {
    const addr = `@edge-agent-test-reload-${process.pid}-${Date.now()}`;
    const rx = await Receiver.start(addr);
    cleanups.push(() => rx.stop());
    const n = createNotifier({ env: { NOTIFY_SOCKET: addr }, monotonicUsec: () => 123456789n });
    cleanups.push(() => n.close());
    n.reloading('reloading rules');
    const [msg] = await rx.waitFor(1);
    expect(msg!.data).toBe('RELOADING=1\nMONOTONIC_USEC=123456789\nSTATUS=reloading rules');
  });

  it('is a silent no-op outside systemd', () => {
    const n = createNotifier({ env: {} });
    expect(n.enabled).toBe(false);
    expect(n.watchdogIntervalMs()).toBeUndefined();
    n.ready('x');
    n.watchdog();
    n.stopping();
  });

  it('survives a socket nobody listens on (systemd gone): no throw', () => {
    const n = createNotifier({ env: { NOTIFY_SOCKET: '@edge-agent-nobody-listens-here' } });
    expect(() => n.ready('x')).not.toThrow();
    n.close();
  });

  it('treats an unusable NOTIFY_SOCKET (vsock, relative) as no systemd', () => {
    expect(createNotifier({ env: { NOTIFY_SOCKET: 'vsock:2:1234' } }).enabled).toBe(false);
    expect(createNotifier({ env: { NOTIFY_SOCKET: 'relative/path' } }).enabled).toBe(false);
  });
});

describe('sockaddr_un encoding', () => {
  it('writes AF_UNIX, the path with its NUL, or a leading NUL for abstract names', () => {
    const p = encodeSockaddr('/run/systemd/notify');
    expect(p.addr.readUInt16LE(0)).toBe(1);
    expect(p.len).toBe(2 + '/run/systemd/notify'.length + 1);
    expect(p.addr.subarray(2, p.len - 1).toString()).toBe('/run/systemd/notify');
    const a = encodeSockaddr('@foo');
    expect(a.len).toBe(2 + 1 + 3);
    expect([...a.addr.subarray(2, a.len)]).toEqual([0, 0x66, 0x6f, 0x6f]);
    expect(() => encodeSockaddr(`/${'x'.repeat(108)}`)).toThrow(/longer than 107/);
  });
});

describe('watchdog interval (sd_watchdog_enabled semantics)', () => {
  it('is half of WATCHDOG_USEC when WATCHDOG_PID is unset or ours', () => {
    expect(watchdogUsec({ WATCHDOG_USEC: '30000000' }, 42)).toBe(30_000_000);
    expect(watchdogUsec({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42' }, 42)).toBe(30_000_000);
    expect(createNotifier({ env: { NOTIFY_SOCKET: '@x', WATCHDOG_USEC: '30000000' } }).watchdogIntervalMs()).toBe(15_000);
  });
  it('is off for another PID, a zero or a malformed value', () => {
    expect(watchdogUsec({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '41' }, 42)).toBeUndefined();
    expect(watchdogUsec({ WATCHDOG_USEC: '0' }, 42)).toBeUndefined();
    expect(watchdogUsec({ WATCHDOG_USEC: '30s' }, 42)).toBeUndefined();
    expect(createNotifier({ env: { NOTIFY_SOCKET: '@x', WATCHDOG_USEC: '1000', WATCHDOG_PID: '1' } }).watchdogIntervalMs()).toBeUndefined();
  });
});

describe('Watchdog pings only while alive', () => {
  it('pings at the interval while alive, withholds pings while stalled, resumes after', async () => {
    const addr = `@edge-agent-test-wd-${process.pid}-${Date.now()}`;
    const rx = await Receiver.start(addr);
    cleanups.push(() => rx.stop());
    // WATCHDOG_USEC 100 ms -> a ping every 50 ms.
    const n = createNotifier({ env: { NOTIFY_SOCKET: addr, WATCHDOG_USEC: '100000' } });
    cleanups.push(() => n.close());
    let alive = true;
    const wd = new Watchdog({ notifier: n, alive: () => alive });
    cleanups.push(() => wd.stop());
    wd.start();
    await rx.waitFor(3);
    alive = false;
    await new Promise((r) => setTimeout(r, 80)); // let an in-flight tick land
    const atStall = rx.got.length;
    await new Promise((r) => setTimeout(r, 400));
    expect(rx.got.length).toBe(atStall);
    expect(wd.stats().missed).toBeGreaterThanOrEqual(5);
    alive = true;
    await rx.waitFor(atStall + 2);
    expect(rx.got.every((g) => g.data === 'WATCHDOG=1')).toBe(true);
    wd.stop();
  });

  it('does nothing when the unit has no watchdog', () => {
    const n = createNotifier({ env: { NOTIFY_SOCKET: '@x' } });
    const wd = new Watchdog({ notifier: n, alive: () => true });
    wd.start();
    expect(wd.stats().pings).toBe(0);
    wd.stop();
  });
});
