import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { FileHandle } from 'node:fs/promises';
import { AgentError, messageOf } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import type { AnomalyEvent } from '../types.js';
import type { AgentEventSink } from './types.js';

export interface JsonlSinkOptions {
  file: string;
  log?: Logger;
  fs?: Pick<typeof fsp, 'open' | 'mkdir'>;
}

interface Waiter {
  line: string;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Appends one JSON event per line to a file (`run --events-out FILE`, `events.jsonl`). `emit` resolves once
 * the line is fsync'd; lines emitted in the same tick share one write and one fdatasync.
 */
export class JsonlSink implements AgentEventSink {
  readonly type = 'jsonl';
  private fh: FileHandle | undefined;
  private batch: Waiter[] = [];
  private flushing: Promise<void> | undefined;
  private readonly log: Logger;
  private readonly fs: Pick<typeof fsp, 'open' | 'mkdir'>;
  private written = 0;
  private failed = 0;

  constructor(private readonly opts: JsonlSinkOptions) {
    this.log = (opts.log ?? silentLogger).child({ component: 'events-jsonl' });
    this.fs = opts.fs ?? fsp;
  }

  async start(): Promise<void> {
    try {
      await this.fs.mkdir(path.dirname(path.resolve(this.opts.file)), { recursive: true });
      this.fh = await this.fs.open(this.opts.file, 'a', 0o640);
    } catch (err) {
      throw new AgentError('SINK_FAILED', `cannot open the events file ${this.opts.file} (${messageOf(err)})`, {
        fix: 'give a writable path to --events-out / events.jsonl',
        cause: err,
      });
    }
  }

  emit(ev: AnomalyEvent): Promise<void> {
    if (!this.fh) return Promise.reject(new AgentError('SINK_FAILED', `events file ${this.opts.file} is not open`, { fix: 'start the sink before emitting' }));
    return new Promise<void>((resolve, reject) => {
      this.batch.push({ line: `${JSON.stringify(ev)}\n`, resolve, reject });
      this.flushing ??= this.flushLoop();
    });
  }

  stats(): Record<string, unknown> {
    return { file: this.opts.file, written: this.written, failed: this.failed };
  }

  async stop(): Promise<void> {
    while (this.flushing) await this.flushing;
    await this.fh?.close();
    this.fh = undefined;
  }

  private async flushLoop(): Promise<void> {
    await new Promise<void>((r) => setImmediate(r));
    while (this.batch.length && this.fh) {
      const items = this.batch;
      this.batch = [];
      try {
        await this.fh.write(items.map((w) => w.line).join(''));
        await this.fh.datasync();
        this.written += items.length;
        for (const w of items) w.resolve();
      } catch (err) {
        this.failed += items.length;
        const e = new AgentError('SINK_FAILED', `cannot append to the events file ${this.opts.file} (${messageOf(err)})`, { fix: 'check free space and permissions', cause: err });
        this.log.error({ err, file: this.opts.file }, e.oneLine());
        for (const w of items) w.reject(e);
      }
    }
    this.flushing = undefined;
  }
}
