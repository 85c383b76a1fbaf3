/**
 * sd_notify for the agent: READY=1 once the first frame has been inferred, WATCHDOG=1 while frames flow,
 * STATUS= lines for `systemctl status`, STOPPING=1 on the way down. Outside systemd (no NOTIFY_SOCKET)
 * every call is a no-op, so the same code runs from a terminal.
 *
 * Message keys: sd_notify(3). Watchdog environment: sd_watchdog_enabled(3) (WATCHDOG_USEC, WATCHDOG_PID).
 */
import type { Logger } from '../../agent/log.js';
import { silentLogger } from '../../agent/log.js';
import { UnixDatagramTransport, type NotifyTransport } from './notify-socket.js';

/** The service-manager port (agent/ports.ts) this driver implements over sd_notify(3). */
export type { Notifier } from '../../agent/ports.js';
import type { Notifier } from '../../agent/ports.js';

export interface NotifierOptions {
  env?: NodeJS.ProcessEnv;
  pid?: number;
  log?: Logger;
  /** Injected for tests; default: a Unix datagram socket to NOTIFY_SOCKET. */
  transport?: NotifyTransport;
  /** Monotonic clock in microseconds for RELOADING's MONOTONIC_USEC; default process.hrtime. */
  monotonicUsec?: () => bigint;
}

/** Creates the notifier from the environment systemd gives the main process. */
export function createNotifier(opts: NotifierOptions = {}): Notifier {
  const env = opts.env ?? process.env;
  const log = (opts.log ?? silentLogger).child({ component: 'sd-notify' });
  const socket = env.NOTIFY_SOCKET;
  if (!socket && !opts.transport) return new NoopNotifier();
  let transport: NotifyTransport;
  try {
    transport = opts.transport ?? new UnixDatagramTransport(socket!);
  } catch (err) {
    log.warn({ err, notifySocket: socket }, 'NOTIFY_SOCKET is unusable; running without systemd notifications');
    return new NoopNotifier();
  }
  return new SocketNotifier(transport, watchdogUsec(env, opts.pid ?? process.pid), log, opts.monotonicUsec ?? (() => process.hrtime.bigint() / 1000n));
}

/**
 * WATCHDOG_USEC when the watchdog is meant for this process: WATCHDOG_PID unset or equal to our PID
 * (sd_watchdog_enabled(3): a child that inherited the environment must not ping for its parent).
 */
export function watchdogUsec(env: NodeJS.ProcessEnv, pid: number): number | undefined {
  const usec = env.WATCHDOG_USEC;
  if (!usec || !/^\d+$/.test(usec) || Number(usec) <= 0) return undefined;
  const wpid = env.WATCHDOG_PID;
  if (wpid !== undefined && wpid !== '' && Number(wpid) !== pid) return undefined;
  return Number(usec);
}

/** A value of STATUS= must stay on one line: newlines would start a new assignment. */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').trim();
}

class SocketNotifier implements Notifier {
  readonly enabled = true;
  private warned = false;

  constructor(
    private readonly transport: NotifyTransport,
    private readonly watchdogUs: number | undefined,
    private readonly log: Logger,
    private readonly monotonicUsec: () => bigint,
  ) {}

  ready(status?: string): void {
    this.send(['READY=1', ...(status ? [`STATUS=${oneLine(status)}`] : [])]);
  }

  watchdog(): void {
    this.send(['WATCHDOG=1']);
  }

  status(text: string): void {
    this.send([`STATUS=${oneLine(text)}`]);
  }

  stopping(status?: string): void {
    this.send(['STOPPING=1', ...(status ? [`STATUS=${oneLine(status)}`] : [])]);
  }

  reloading(status?: string): void {
    // MONOTONIC_USEC is required by Type=notify-reload (systemd >= 253) and ignored by older versions.
    this.send(['RELOADING=1', `MONOTONIC_USEC=${this.monotonicUsec()}`, ...(status ? [`STATUS=${oneLine(status)}`] : [])]);
  }

  extendTimeout(ms: number): void {
    this.send([`EXTEND_TIMEOUT_USEC=${Math.max(1, Math.round(ms * 1000))}`]);
  }

  watchdogIntervalMs(): number | undefined {
    return this.watchdogUs === undefined ? undefined : Math.max(1, Math.floor(this.watchdogUs / 2000));
  }

  close(): void {
    this.transport.close();
  }

  private send(lines: string[]): void {
    const err = this.transport.send(lines.join('\n'));
    if (err) {
      // Once at warn (systemd gone or socket misconfigured), then at debug, so a dead socket cannot flood the log.
      if (!this.warned) this.log.warn({ reason: err, message: lines[0] }, 'sd_notify failed');
      else this.log.debug({ reason: err, message: lines[0] }, 'sd_notify failed');
      this.warned = true;
    }
  }
}

class NoopNotifier implements Notifier {
  readonly enabled = false;
  ready(): void {}
  watchdog(): void {}
  status(): void {}
  stopping(): void {}
  reloading(): void {}
  extendTimeout(): void {}
  watchdogIntervalMs(): number | undefined {
    return undefined;
  }
  close(): void {}
}
