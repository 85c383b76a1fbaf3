/**
 * What an output's safety limits must remember across a restart: today's on-time (the daily budget), when it was
 * last switched off (the minimum off-time) and whether it was on when the agent went down. Without it, a crash
 * loop would reset an irrigation valve's daily budget on every restart and could flood a field.
 *
 * One small JSON file per output, `<stateDir>/outputs/<name>.json`, replaced atomically (write, fsync, rename) at
 * each switch-on and switch-off. Only outputs whose limits outlive a restart use it (a daily budget, or a minimum
 * off-time of a second or more): a reject gate pulsing ten times a second is not written to the SD card.
 */
import { mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import type { OutputConfig } from '../config/sections/outputs.js';
import { fsyncDir, writeSynced } from '../durable-file.js';

export interface LedgerRecord {
  /** Local calendar day ("YYYY-MM-DD") that onMs counts. */
  day: string;
  /** On-time already used on that day, ms (finished activations). */
  onMs: number;
  /** Wall-clock ms of the last switch-off. */
  lastOffWall?: number;
  /** Wall-clock ms of the switch-on of an activation still running when this was written. */
  onSinceWall?: number;
  /**
   * The boot these stamps belong to (/proc/sys/kernel/random/boot_id) and CLOCK_MONOTONIC stamps (ms since boot):
   * within one boot they, not the wall clock, say how long ago the day began, the output went off or on.
   */
  bootId?: string;
  dayStartMono?: number;
  lastOffMono?: number;
  onSinceMono?: number;
}

export interface OutputLedger {
  load(): LedgerRecord | undefined;
  save(rec: LedgerRecord): void;
}

/** Minimum off-times shorter than this are not worth remembering across a restart (which takes longer). */
const rememberMinOffMs = 1_000;

export function needsLedger(cfg: OutputConfig): boolean {
  return cfg.dailyMaxOnS !== undefined || cfg.minOffMs >= rememberMinOffMs;
}

export function ledgerDir(stateDir: string): string {
  return join(stateDir, 'outputs');
}

/** The ledger file of one output. A missing file is a fresh output; an unreadable one is logged and ignored. */
export function fileLedger(dir: string, output: string, log: Logger): OutputLedger {
  const file = join(dir, `${output.replace(/[^A-Za-z0-9_.-]/g, '_')}.json`);
  let warned = false;
  return {
    load() {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ file, err: String(err) }, 'output ledger unreadable: daily budget starts from zero');
        return undefined;
      }
      try {
        const r = JSON.parse(text) as Partial<LedgerRecord>;
        if (typeof r.day !== 'string' || typeof r.onMs !== 'number' || !Number.isFinite(r.onMs)) throw new Error('missing day or onMs');
        return {
          day: r.day,
          onMs: Math.max(0, r.onMs),
          ...(typeof r.lastOffWall === 'number' ? { lastOffWall: r.lastOffWall } : {}),
          ...(typeof r.onSinceWall === 'number' ? { onSinceWall: r.onSinceWall } : {}),
          ...(typeof r.bootId === 'string' ? { bootId: r.bootId } : {}),
          ...(typeof r.dayStartMono === 'number' ? { dayStartMono: r.dayStartMono } : {}),
          ...(typeof r.lastOffMono === 'number' ? { lastOffMono: r.lastOffMono } : {}),
          ...(typeof r.onSinceMono === 'number' ? { onSinceMono: r.onSinceMono } : {}),
        };
      } catch (err) {
        log.warn({ file, err: String(err) }, 'output ledger corrupt: daily budget starts from zero');
        return undefined;
      }
    },
    save(rec) {
      try {
        mkdirSync(dir, { recursive: true });
        const tmp = `${file}.tmp`;
        writeSynced(tmp, `${JSON.stringify(rec)}\n`);
        renameSync(tmp, file);
        fsyncDir(dir);
        warned = false;
      } catch (err) {
        // The output keeps working on the in-memory figures; only a restart would forget them.
        if (!warned) log.error({ file, err: String(err) }, 'cannot write the output ledger: a restart would reset the daily on-time budget');
        warned = true;
      }
    },
  };
}
