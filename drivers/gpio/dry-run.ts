/**
 * The honest fake: records every level change in a JSONL journal instead of driving a pin. It powers
 * `run --simulate-outputs FILE` and `actuate --simulate-outputs FILE`, and the demo's "one pulse per defective
 * part" check. One line per change: {"ts": ISO time, "output", "value": 1 active / 0 inactive, "reason"}.
 * Writes are synchronous appends, so the crash path (safeSync) records its line before the process dies.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { AgentError } from '../../agent/errors.js';
import type { Actuator, DriverContext, WriteIntent } from '../../agent/actuators/actuator.js';

export interface JournalEntry {
  ts: string;
  output: string;
  value: 0 | 1;
  reason: string;
  /** When the safety layer meant this change to happen (a pulse's due time, its planned end), when it said. */
  due?: string;
  /** The intended time in the clip, ms of media time (pulses from a frame): equal for a replay and a live run. */
  media?: number;
}

export class DryRunActuator implements Actuator {
  readonly type = 'dry-run';
  private started = false;
  private readonly wall: () => number;

  constructor(private readonly ctx: DriverContext) {
    this.wall = ctx.wall ?? Date.now;
  }

  describe(): string {
    return `dry-run${this.ctx.journal ? ` journal ${this.ctx.journal}` : ' (log only)'}${this.ctx.activeLow ? ', active-low' : ''}`;
  }

  async start(): Promise<void> {
    if (this.ctx.journal) {
      try {
        mkdirSync(dirname(this.ctx.journal), { recursive: true });
      } catch (err) {
        throw new AgentError('OUTPUT_INVALID', `output "${this.ctx.output}": cannot create the folder of journal ${this.ctx.journal}`, { fix: 'give a writable path', cause: err });
      }
    }
    this.started = true;
    this.record(false, 'start');
  }

  async write(active: boolean, reason: string, intent?: WriteIntent): Promise<void> {
    this.record(active, reason, intent);
  }

  async safe(reason: string): Promise<void> {
    this.record(false, reason);
  }

  safeSync(reason: string): boolean {
    if (this.started) this.record(false, reason);
    return true;
  }

  async stop(): Promise<void> {
    if (!this.started) return;
    this.record(false, 'stop');
    this.started = false;
  }

  private record(active: boolean, reason: string, intent?: WriteIntent): void {
    const entry: JournalEntry = { ts: new Date(this.wall()).toISOString(), output: this.ctx.output, value: active ? 1 : 0, reason, ...(intent ? { due: new Date(intent.dueWall).toISOString() } : {}), ...(intent?.mediaMs !== undefined ? { media: Math.round(intent.mediaMs * 1000) / 1000 } : {}) };
    if (!this.ctx.journal) {
      this.ctx.log.info({ output: this.ctx.output, value: entry.value, reason }, 'dry-run output');
      return;
    }
    try {
      appendFileSync(this.ctx.journal, `${JSON.stringify(entry)}\n`);
    } catch (err) {
      throw new AgentError('OUTPUT_FAILED', `output "${this.ctx.output}": cannot append to journal ${this.ctx.journal}`, { fix: 'check the path and free space', cause: err });
    }
  }
}
