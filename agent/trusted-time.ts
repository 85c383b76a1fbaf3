/**
 * Time that a wrong or jumping wall clock cannot fool, for limits that count days or ages (an output's daily
 * on-time budget, the outbox's age limit).
 *
 * - Within one run, elapsed time is monotonic (the Clock's now()).
 * - Across restarts within one boot, CLOCK_MONOTONIC stamps (process.hrtime: time since boot, the same for every
 *   process) tell how long ago something happened; the boot id (/proc/sys/kernel/random/boot_id, a random UUID
 *   the kernel draws at each boot: see proc_sys_kernel(5), "random/boot_id") says whether the stamps compare.
 * - The wall clock is trusted only once it is synchronised: systemd-timesyncd touches
 *   /run/systemd/timesync/synchronized "on each successful synchronization" (systemd-timesyncd.service(8));
 *   timedatectl's NTPSynchronized property (org.freedesktop.timedate1) covers chrony and ntpd; or the operator
 *   says so (EDGE_AGENT_WALL_CLOCK=trusted, e.g. a device with a battery-backed RTC). A Pi without an RTC boots
 *   with the last saved time (fake-hwclock) or 1970 until NTP answers: until then its calendar day is not believed.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

export interface WallTrust {
  /** True when the wall clock is known to be synchronised (day boundaries and ages may follow it). */
  trusted(): boolean;
  /** One line for logs: why it is (not) trusted. */
  describe(): string;
}

/** CLOCK_MONOTONIC since boot, and which boot. */
export interface BootClock {
  bootId(): string | undefined;
  /** Milliseconds since boot on CLOCK_MONOTONIC (the same in every process of this boot). */
  monoMs(): number;
}

export const alwaysTrusted: WallTrust = { trusted: () => true, describe: () => 'trusted (assumed)' };
export const neverTrusted: WallTrust = { trusted: () => false, describe: () => 'not trusted (assumed)' };

let cachedBootId: string | undefined | null = null;

/** The kernel's boot id, read once; undefined where /proc does not have it. */
export function readBootId(file = '/proc/sys/kernel/random/boot_id'): string | undefined {
  if (cachedBootId !== null && file === '/proc/sys/kernel/random/boot_id') return cachedBootId;
  let id: string | undefined;
  try {
    id = readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    id = undefined;
  }
  if (file === '/proc/sys/kernel/random/boot_id') cachedBootId = id;
  return id;
}

export const systemBootClock: BootClock = {
  bootId: () => readBootId(),
  // process.hrtime reads CLOCK_MONOTONIC on Linux (libuv uv_hrtime): since boot, shared by all processes.
  monoMs: () => Number(process.hrtime.bigint() / 1_000_000n),
};

export interface SystemWallTrustOptions {
  /** Files whose presence means "synchronised" (default: systemd-timesyncd's flag file). */
  files?: string[];
  env?: NodeJS.ProcessEnv;
  /** Ask timedatectl (NTPSynchronized) in the background, at most this often; 0: never. Default 60 s. */
  timedatectlEveryMs?: number;
  /** A positive answer is remembered: a synchronised clock stays trusted for the run (it only drifts slowly). */
  now?: () => number;
}

/**
 * The wall clock's trust on this machine (see the module comment). Checks are cheap (a stat at most every
 * second); timedatectl runs in the background and never blocks. Once trusted, it stays trusted for the run.
 */
export function systemWallTrust(o: SystemWallTrustOptions = {}): WallTrust {
  const env = o.env ?? process.env;
  const files = o.files ?? ['/run/systemd/timesync/synchronized'];
  const now = o.now ?? (() => performance.now());
  const every = o.timedatectlEveryMs ?? 60_000;
  const forced = (env.EDGE_AGENT_WALL_CLOCK ?? '').toLowerCase();
  let trusted = forced === 'trusted';
  let why = trusted ? 'EDGE_AGENT_WALL_CLOCK=trusted' : 'not synchronised yet';
  let lastFileCheck = -Infinity;
  let lastAsk = -Infinity;
  let asking = false;
  const ask = () => {
    if (every <= 0 || asking || now() - lastAsk < every) return;
    lastAsk = now();
    asking = true;
    try {
      // Without NOTIFY_SOCKET: systemd tools report their exit status there (ERRNO=...) as if they were the service.
      const { NOTIFY_SOCKET: _n, WATCHDOG_USEC: _w, WATCHDOG_PID: _p, ...childEnv } = env;
      const child = execFile('timedatectl', ['show', '-p', 'NTPSynchronized', '--value'], { timeout: 5_000, env: childEnv }, (err, stdout) => {
        asking = false;
        if (!err && String(stdout).trim() === 'yes' && !trusted) {
          trusted = true;
          why = 'timedatectl NTPSynchronized=yes';
        }
      });
      child.on('error', () => (asking = false));
      child.unref();
    } catch {
      asking = false;
    }
  };
  return {
    trusted() {
      if (trusted) return true;
      if (forced === 'untrusted') return false;
      if (now() - lastFileCheck >= 1_000) {
        lastFileCheck = now();
        const hit = files.find((f) => existsSync(f));
        if (hit) {
          trusted = true;
          why = `${hit} exists`;
          return true;
        }
      }
      ask();
      return trusted;
    },
    describe: () => (trusted ? `trusted (${why})` : forced === 'untrusted' ? 'not trusted (EDGE_AGENT_WALL_CLOCK=untrusted)' : `not trusted (${why}: no ${files.join(', ')}, timedatectl does not say NTPSynchronized=yes)`),
  };
}
