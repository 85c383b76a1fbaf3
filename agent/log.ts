import { pino, type Logger, type LevelWithSilent } from 'pino';
import { fstatSync } from 'node:fs';
import { createRequire } from 'node:module';

export type { Logger };

export interface LogOptions {
  level?: LevelWithSilent;
  /** Human-readable output; default: when stderr is a terminal. */
  pretty?: boolean;
  /** Destination stream; default stderr (stdout is kept for command output such as --json). */
  stream?: NodeJS.WritableStream;
  /**
   * Prefix every JSON line with its syslog priority `<N>` for journald; default: when the destination is stderr and
   * stderr is the journal (journalStreamIsStderr()).
   */
  journal?: boolean;
  /** Environment to read NO_COLOR, FORCE_COLOR, JOURNAL_STREAM and EDGE_AGENT_LOG_LEVEL from (tests). */
  env?: NodeJS.ProcessEnv;
}

/**
 * Structured logs (pino): JSON lines when not a terminal (journald, files), readable lines in a terminal.
 * Components get `log.child({ component })`; errors go under `err`.
 */
export function createLogger(opts: LogOptions = {}): Logger {
  const env = opts.env ?? process.env;
  const level = opts.level ?? ((env.EDGE_AGENT_LOG_LEVEL as LevelWithSilent | undefined) ?? 'info');
  const stream = opts.stream ?? process.stderr;
  const usePretty = opts.pretty ?? Boolean((stream as NodeJS.WriteStream).isTTY);
  if (usePretty) {
    // Loaded only for a terminal: a service logging JSON lines to journald never needs it.
    const pretty = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
    return pino(
      { level, base: undefined },
      pretty({ destination: stream as NodeJS.WritableStream & { fd?: number }, colorize: useColor(env), sync: true, ignore: 'pid,hostname', translateTime: 'HH:MM:ss.l' }),
    );
  }
  const journal = opts.journal ?? (stream === process.stderr && journalStreamIsStderr(env));
  const dest = journal ? journalPrefixed(stream) : stream;
  return pino({ level, base: undefined }, dest as NodeJS.WritableStream as pino.DestinationStream);
}

/**
 * Colours in the terminal output: NO_COLOR (no-color.org: "when present and not an empty string" it disables colour)
 * wins, then FORCE_COLOR (Node's convention: "0" or "false" off, anything else on), else on (pretty output is only
 * chosen for a terminal).
 */
export function useColor(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  const force = env.FORCE_COLOR;
  if (force !== undefined) return !(force === '0' || force === 'false');
  return true;
}

/**
 * Whether stderr is connected to journald. systemd.exec(5), $JOURNAL_STREAM: "The device and inode numbers of the
 * file descriptor [are] formatted in decimal, separated by a colon [...]. This permits invoked processes to safely
 * detect whether their standard output or standard error output are connected to the journal. The device and inode
 * numbers of the file descriptors should be compared with the values set in the environment variable to determine
 * whether the process output is still connected to the journal."
 */
export function journalStreamIsStderr(env: NodeJS.ProcessEnv = process.env, fd = 2): boolean {
  const m = /^(\d+):(\d+)$/.exec(env.JOURNAL_STREAM ?? '');
  if (!m) return false;
  try {
    const st = fstatSync(fd, { bigint: true });
    return st.dev === BigInt(m[1]!) && st.ino === BigInt(m[2]!);
  } catch {
    return false;
  }
}

/**
 * sd-daemon(3) priority for a pino level: "<3>" SD_ERR ... "<7>" SD_DEBUG. journald's stream transport reads such a
 * prefix off each line (systemd.exec(5) SyslogLevelPrefix=, on by default) and files the line at that priority;
 * without one every line is "info" (6). fatal (60) -> SD_CRIT 2, error (50) -> SD_ERR 3, warn (40) -> SD_WARNING 4,
 * info (30) -> SD_INFO 6, debug and trace -> SD_DEBUG 7. (SD_NOTICE 5 has no pino level.)
 */
export function journalPriority(pinoLevel: number): number {
  if (pinoLevel >= 60) return 2;
  if (pinoLevel >= 50) return 3;
  if (pinoLevel >= 40) return 4;
  if (pinoLevel >= 30) return 6;
  return 7;
}

/** A stream that puts `<N>` before each JSON line pino writes (pino writes one whole line per call, level first). */
function journalPrefixed(stream: NodeJS.WritableStream): { write(chunk: string): boolean } {
  return {
    write(chunk: string): boolean {
      const m = /^\{"level":(\d+)/.exec(chunk);
      return stream.write(`<${journalPriority(m ? Number(m[1]) : 30)}>${chunk}`);
    },
  };
}

/** A logger that drops everything: for tests and library callers that pass none. */
export const silentLogger: Logger = pino({ level: 'silent' });
