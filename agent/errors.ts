/**
 * Typed errors. Every error a user can cause carries a code and the fix, so the CLI can print one line
 * ("what, where, what to do") and exit with a sysexits-style status instead of a stack trace.
 */

/** Exit statuses from sysexits.h; 78 (EX_CONFIG) also stops systemd from restart-looping (RestartPreventExitStatus=78). */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 64, // EX_USAGE: bad command line
  dataErr: 65, // EX_DATAERR: input data is wrong (corrupt video, model not matching its manifest)
  noInput: 66, // EX_NOINPUT: a file or device does not exist or cannot be read
  unavailable: 69, // EX_UNAVAILABLE: a needed tool or service is missing
  software: 70, // EX_SOFTWARE: internal error (a bug)
  ioErr: 74, // EX_IOERR
  config: 78, // EX_CONFIG
} as const;

export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'CONFIG_NOT_FOUND'
  | 'USAGE'
  | 'SOURCE_NOT_FOUND'
  | 'SOURCE_FAILED'
  | 'SOURCE_CORRUPT'
  | 'TOOL_MISSING'
  | 'MODEL_NOT_FOUND'
  | 'MODEL_INVALID'
  | 'MODEL_MISMATCH'
  | 'MODEL_CHECKSUM'
  | 'MANIFEST_INVALID'
  | 'BACKEND_UNAVAILABLE'
  | 'BACKEND_FAILED'
  | 'IMAGE_INVALID'
  | 'OUTPUT_INVALID'
  | 'OUTPUT_FAILED'
  | 'OUTPUT_PERMISSION'
  | 'SINK_FAILED'
  | 'OUTBOX_FAILED'
  | 'INTERNAL';

const defaultExit: Record<ErrorCode, number> = {
  CONFIG_INVALID: ExitCode.config,
  CONFIG_NOT_FOUND: ExitCode.config,
  USAGE: ExitCode.usage,
  SOURCE_NOT_FOUND: ExitCode.noInput,
  SOURCE_FAILED: ExitCode.ioErr,
  SOURCE_CORRUPT: ExitCode.dataErr,
  TOOL_MISSING: ExitCode.unavailable,
  MODEL_NOT_FOUND: ExitCode.noInput,
  MODEL_INVALID: ExitCode.dataErr,
  MODEL_MISMATCH: ExitCode.dataErr,
  MODEL_CHECKSUM: ExitCode.dataErr,
  MANIFEST_INVALID: ExitCode.config,
  BACKEND_UNAVAILABLE: ExitCode.unavailable,
  BACKEND_FAILED: ExitCode.software,
  IMAGE_INVALID: ExitCode.dataErr,
  OUTPUT_INVALID: ExitCode.config,
  OUTPUT_FAILED: ExitCode.ioErr,
  OUTPUT_PERMISSION: ExitCode.noInput,
  SINK_FAILED: ExitCode.ioErr,
  OUTBOX_FAILED: ExitCode.ioErr,
  INTERNAL: ExitCode.software,
};

export class AgentError extends Error {
  readonly code: ErrorCode;
  /** What the user should do about it; printed after the message. */
  readonly fix: string | undefined;
  readonly exitCode: number;

  constructor(code: ErrorCode, message: string, opts: { fix?: string; cause?: unknown; exitCode?: number } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'AgentError';
    this.code = code;
    this.fix = opts.fix;
    this.exitCode = opts.exitCode ?? defaultExit[code];
  }

  /** The one line shown to a user: "message: fix". */
  oneLine(): string {
    return this.fix ? `${this.message}: ${this.fix}` : this.message;
  }
}

export function isAgentError(err: unknown): err is AgentError {
  return err instanceof AgentError;
}

/** Message of any thrown value, for wrapping third-party errors into an AgentError. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
