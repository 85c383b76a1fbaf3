/**
 * Outputs safe on every way out of the process: SIGTERM (systemd stop), SIGINT (Ctrl-C), an uncaught exception,
 * an unhandled promise rejection, and process.exit() from anywhere. The safe level is written synchronously
 * (no promise would run on a crash), then the process is left to exit as it would have.
 */
import type { Logger } from '../log.js';

export interface SafeAll {
  safeAllSync(reason: string): boolean;
}

export interface SafetyHookOptions {
  /**
   * Graceful shutdown to run after the outputs are safe (stop the pipeline, flush the outbox). Without it the
   * process exits at once with 128 + the signal number. A second signal exits at once.
   */
  onSignal?: (signal: NodeJS.Signals) => void | Promise<void>;
  /** Hard deadline for onSignal before the process exits anyway (ms). */
  exitDeadlineMs?: number;
}

const signalNumbers: Record<string, number> = { SIGINT: 2, SIGTERM: 15 };

/** Installs the hooks; returns a function that removes them (tests, and a clean stop()). */
export function installSafetyHooks(bank: SafeAll, log: Logger, opts: SafetyHookOptions = {}): () => void {
  const hlog = log.child({ component: 'safety' });
  let signalled = false;
  let done = false;

  const safe = (reason: string): void => {
    done = true;
    try {
      const ok = bank.safeAllSync(reason);
      if (!ok) hlog.error({ reason }, 'not every output confirmed its safe level');
    } catch (err) {
      hlog.error({ err, reason }, 'driving the outputs safe failed');
    }
  };

  const onSignal = (signal: NodeJS.Signals): void => {
    const code = 128 + (signalNumbers[signal] ?? 0);
    if (signalled) {
      hlog.warn({ signal }, 'second signal: exiting now');
      process.exit(code);
    }
    signalled = true;
    safe(`signal ${signal}`);
    hlog.info({ signal }, 'outputs safe; shutting down');
    if (!opts.onSignal) {
      process.exit(code);
    }
    const deadline = setTimeout(() => {
      hlog.error({ signal, deadlineMs: opts.exitDeadlineMs ?? 10_000 }, 'shutdown took too long: exiting');
      process.exit(code);
    }, opts.exitDeadlineMs ?? 10_000);
    deadline.unref();
    Promise.resolve()
      .then(() => opts.onSignal!(signal))
      .catch((err: unknown) => hlog.error({ err }, 'graceful shutdown failed'));
  };

  // uncaughtExceptionMonitor runs before Node's default handling (print the stack, exit 1) without replacing
  // it, and also sees unhandled rejections (Node's default --unhandled-rejections=throw turns them into this).
  const onCrash = (err: Error, origin: string): void => {
    hlog.fatal({ err, origin }, 'crash: driving every output safe');
    safe(origin === 'unhandledRejection' ? 'unhandled rejection' : 'uncaught exception');
  };
  const onExit = (): void => {
    if (!done) safe('exit');
  };

  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('uncaughtExceptionMonitor', onCrash);
  process.on('exit', onExit);
  return () => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    process.off('uncaughtExceptionMonitor', onCrash);
    process.off('exit', onExit);
  };
}
