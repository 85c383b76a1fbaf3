import { pino, type Logger, type LevelWithSilent } from 'pino';
import { createRequire } from 'node:module';

export type { Logger };

export interface LogOptions {
  level?: LevelWithSilent;
  /** Human-readable output; default: when stderr is a terminal. */
  pretty?: boolean;
  /** Destination stream; default stderr (stdout is kept for command output such as --json). */
  stream?: NodeJS.WritableStream;
}

/**
 * Structured logs (pino): JSON lines when not a terminal (journald, files), readable lines in a terminal.
 * Components get `log.child({ component })`; errors go under `err`.
 */
export function createLogger(opts: LogOptions = {}): Logger {
  const level = opts.level ?? ((process.env.EDGE_AGENT_LOG_LEVEL as LevelWithSilent | undefined) ?? 'info');
  const stream = opts.stream ?? process.stderr;
  const usePretty = opts.pretty ?? Boolean((stream as NodeJS.WriteStream).isTTY);
  if (usePretty) {
    // Loaded only for a terminal: a service logging JSON lines to journald never needs it.
    const pretty = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
    return pino(
      { level, base: undefined },
      pretty({ destination: stream as NodeJS.WritableStream & { fd?: number }, colorize: true, sync: true, ignore: 'pid,hostname', translateTime: 'HH:MM:ss.l' }),
    );
  }
  return pino({ level, base: undefined }, stream as NodeJS.WritableStream as pino.DestinationStream);
}

/** A logger that drops everything: for tests and library callers that pass none. */
export const silentLogger: Logger = pino({ level: 'silent' });
