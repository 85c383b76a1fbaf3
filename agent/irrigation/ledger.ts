/**
 * The farm's water ledger: per local day, valve seconds used per zone and for the whole farm, and each zone's last
 * watering (start and planned end), so that budgets, minimum off-time and cooldown survive a restart. A watering is
 * charged in full BEFORE its valve is opened (persist first): a crash mid-watering can only over-count, never
 * forget water that was given. Written atomically (temporary file, fsync, rename, fsync of the folder).
 */
import { mkdirSync, readFileSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import { fsyncDir, writeSynced } from '../durable-file.js';

export interface ZoneLedger {
  usedS: number;
  lastStartMs?: number;
  /** Planned end of the last watering; after a restart, the time the valve was known closed. */
  lastEndMs?: number;
}

export interface LedgerData {
  version: 1;
  day: string;
  farmUsedS: number;
  zones: Record<string, ZoneLedger>;
}

export class WaterLedger {
  data: LedgerData;

  /** `file` undefined: in memory only (budgets start fresh at each start). */
  constructor(private readonly file: string | undefined, day: string) {
    this.data = { version: 1, day, farmUsedS: 0, zones: {} };
  }

  /** Loads the file if there is one; a file from another day keeps only the zones' last times. */
  load(today: string): { loaded: boolean; reset: boolean } {
    if (!this.file) return { loaded: false, reset: false };
    let raw: LedgerData;
    try {
      raw = JSON.parse(readFileSync(this.file, 'utf8')) as LedgerData;
    } catch {
      return { loaded: false, reset: false };
    }
    if (raw?.version !== 1 || typeof raw.day !== 'string' || typeof raw.zones !== 'object') return { loaded: false, reset: false };
    this.data = raw;
    const reset = this.rollTo(today);
    return { loaded: true, reset };
  }

  /** Starts a new day's budget when the local day changed; returns whether it did. */
  rollTo(today: string): boolean {
    if (this.data.day === today) return false;
    this.data.day = today;
    this.data.farmUsedS = 0;
    for (const z of Object.values(this.data.zones)) z.usedS = 0;
    return true;
  }

  zone(name: string): ZoneLedger {
    let z = this.data.zones[name];
    if (!z) {
      z = { usedS: 0 };
      this.data.zones[name] = z;
    }
    return z;
  }

  charge(name: string, seconds: number, startMs: number): void {
    const z = this.zone(name);
    z.usedS += seconds;
    z.lastStartMs = startMs;
    z.lastEndMs = startMs + seconds * 1000;
    this.data.farmUsedS += seconds;
    this.save();
  }

  /** Gives back water not given (the valve was refused, or closed early on a clean stop). */
  refund(name: string, seconds: number, endMs: number): void {
    const z = this.zone(name);
    z.usedS = Math.max(0, z.usedS - seconds);
    this.data.farmUsedS = Math.max(0, this.data.farmUsedS - seconds);
    z.lastEndMs = endMs;
    this.save();
  }

  save(): void {
    if (!this.file) return;
    mkdirSync(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeSynced(tmp, `${JSON.stringify(this.data)}\n`);
    renameSync(tmp, this.file);
    fsyncDir(dirname(this.file));
  }
}
