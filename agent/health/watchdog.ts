/**
 * The systemd watchdog pinger. It pings at half of WatchdogSec, but only while `alive()` says so: a stalled
 * frame loop stops the pings and systemd restarts the service (WatchdogSec= + Restart=on-failure), which is
 * the point of having a watchdog. A timer that pinged unconditionally would only prove the event loop runs.
 */
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import type { Notifier } from '../ports.js';

export interface WatchdogOptions {
  notifier: Notifier;
  /**
   * Whether to ping now. Typical wiring: `() => starting || health.flowing()` - true during start-up
   * (bounded by TimeoutStartSec instead), then only while frames flow.
   */
  alive: () => boolean;
  /** Override the interval (ms); default notifier.watchdogIntervalMs(). */
  intervalMs?: number;
  log?: Logger;
}

export class Watchdog {
  private timer: NodeJS.Timeout | undefined;
  /** Consecutive ticks without a ping (reset when frames flow again). */
  private missed = 0;
  private totalMissed = 0;
  private pings = 0;
  private readonly log: Logger;

  constructor(private readonly opts: WatchdogOptions) {
    this.log = (opts.log ?? silentLogger).child({ component: 'watchdog' });
  }

  /** Starts pinging; does nothing when the unit has no watchdog (WatchdogSec unset) or outside systemd. */
  start(): void {
    const interval = this.opts.intervalMs ?? this.opts.notifier.watchdogIntervalMs();
    if (!this.opts.notifier.enabled || interval === undefined || this.timer) return;
    this.log.debug({ intervalMs: interval }, 'watchdog pings started');
    this.tick();
    this.timer = setInterval(() => this.tick(), interval);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Pings sent and ticks skipped because the loop was not alive (for logs and tests). */
  stats(): { pings: number; missed: number } {
    return { pings: this.pings, missed: this.totalMissed };
  }

  private tick(): void {
    let ok: boolean;
    try {
      ok = this.opts.alive();
    } catch (err) {
      this.log.error({ err }, 'liveness check failed; withholding the watchdog ping');
      ok = false;
    }
    if (ok) {
      if (this.missed > 0) this.log.info({ missed: this.missed }, 'frames flow again; watchdog pings resumed');
      this.missed = 0;
      this.pings++;
      this.opts.notifier.watchdog();
      return;
    }
    if (this.missed === 0) this.log.warn('frame loop stalled; withholding watchdog pings (systemd will restart the service)');
    this.missed++;
    this.totalMissed++;
  }
}
