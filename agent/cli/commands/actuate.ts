import { AgentError, ExitCode } from '../../errors.js';
import { loadConfigFile } from '../../config/load.js';
import { createLogger } from '../../log.js';
import { MANUAL_PULSE_LEAD_MS, OutputBank, type ActuationReport } from '../../actuators/output-bank.js';
import { installSafetyHooks } from '../../actuators/safety-hooks.js';
import type { ActionOutcome } from '../../types.js';
import { parseCommandArgs } from '../args.js';
import { demoConfigPath } from '../../paths.js';
import { ledgerDir } from '../../actuators/ledger.js';
import { defaultStateDir } from '../../events/registry.js';
import { resolve } from 'node:path';

export const summary = 'drive one configured output (pulse, on for a time, off) to test the wiring';

const usage = `
usage: edge-agent actuate NAME (--pulse MS | --on SECONDS | --off) [--config FILE] [--state-dir DIR] [--simulate-outputs FILE]

Drives the output NAME from the config through the same safety layer as the agent: a pulse or an on-time
longer than the output's maxOnMs is refused, its minimum off-time and daily on-time budget are those the agent
uses (shared through the state directory), and the output is left at its safe level when the command ends
(also on Ctrl-C). Run it with the agent stopped: the agent holds the GPIO lines while it runs.

  --pulse MS               active for MS milliseconds
  --on SECONDS             active for SECONDS seconds (may be fractional)
  --off                    drive the safe (inactive) level
  --config FILE            config file (default: the bundled config/conveyor-demo.yaml)
  --state-dir DIR          where the outputs' daily on-time is kept (default: config stateDir, else the agent's)
  --simulate-outputs FILE  do not touch hardware: journal the changes to FILE (JSON lines)

examples:
  edge-agent actuate reject_gate --pulse 100 --config /etc/edge-agent/config.yaml
  edge-agent actuate valve --on 2.5 --config /etc/edge-agent/config.yaml
`;

function positiveNumber(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new AgentError('USAGE', `${flag} needs a positive number, got "${text}"`);
  return n;
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals, help } = parseCommandArgs(
    argv,
    {
      pulse: { type: 'string' },
      on: { type: 'string' },
      off: { type: 'boolean' },
      config: { type: 'string', short: 'c' },
      'simulate-outputs': { type: 'string' },
      'state-dir': { type: 'string' },
    },
    usage,
  );
  if (help) return ExitCode.ok;
  const modes = [values.pulse !== undefined, values.on !== undefined, values.off === true].filter(Boolean).length;
  if (positionals.length !== 1 || modes !== 1) {
    throw new AgentError('USAGE', 'actuate needs one output NAME and exactly one of --pulse MS, --on SECONDS, --off', { fix: 'e.g. edge-agent actuate reject_gate --pulse 100' });
  }
  const name = positionals[0]!;
  const loaded = loadConfigFile(values.config ?? demoConfigPath());
  const outputs = loaded.config.outputs;
  const out = outputs[name];
  if (!out) {
    throw new AgentError('USAGE', `no output named "${name}" in ${loaded.path}`, { fix: `configured outputs: ${Object.keys(outputs).join(', ') || 'none'}` });
  }
  const pulseMs = values.pulse !== undefined ? positiveNumber('--pulse', values.pulse) : undefined;
  const onMs = values.on !== undefined ? positiveNumber('--on', values.on) * 1000 : undefined;
  const wantMs = pulseMs ?? onMs;
  if (wantMs !== undefined && wantMs > out.maxOnMs) {
    throw new AgentError('OUTPUT_INVALID', `${pulseMs !== undefined ? 'pulse' : 'on-time'} of ${wantMs} ms is longer than output "${name}" allows (maxOnMs ${out.maxOnMs})`, {
      fix: `use at most ${out.maxOnMs} ms, or raise outputs.${name}.maxOnMs in the config if the hardware allows it`,
    });
  }

  const log = createLogger({ level: loaded.config.log.level === 'info' ? 'warn' : loaded.config.log.level });
  // Only the output under test is started: the others stay untouched (another person may be wiring them).
  const stateDir = resolve(values['state-dir'] ?? (loaded.config.stateDir ? resolve(loaded.baseDir, loaded.config.stateDir) : defaultStateDir()));
  const simulate = values['simulate-outputs'];
  // A simulated output spends no real on-time: it neither reads nor writes the ledger.
  // The command ends when the output itself reports the end of the activation (switched off, or why not),
  // however late a busy machine runs the timers: never after a guessed sleep.
  const ended = new Set<ActuationReport['kind']>(['off', 'missed', 'refused', 'failed', 'stuck']);
  let settle: ((r: ActuationReport) => void) | undefined;
  const done = new Promise<ActuationReport>((r) => (settle = r));
  const onReport = (r: ActuationReport): void => {
    if (r.output === name && ended.has(r.kind)) settle?.(r);
  };
  const bank = new OutputBank({ [name]: out }, { log, simulateJournal: simulate, threaded: false, onReport, ...(simulate ? {} : { ledgerDir: ledgerDir(stateDir) }) });
  await bank.start();
  const unhook = installSafetyHooks(bank, log);
  try {
    const driver = (await bank.status()).outputs[0]!.driver;
    let outcome: ActionOutcome | undefined;
    if (pulseMs !== undefined) {
      outcome = await bank.pulse(name, { dueMono: performance.now() + MANUAL_PULSE_LEAD_MS, widthMs: pulseMs, reason: 'actuate --pulse' });
      if (outcome.status === 'scheduled') await ending(done, out.maxOnMs);
    } else if (onMs !== undefined) {
      outcome = await bank.hold(name, { durationMs: onMs, reason: 'actuate --on' });
      if (outcome.status === 'on') await ending(done, out.maxOnMs);
    } else {
      if (!(await bank.off(name, 'actuate --off'))) throw new AgentError('OUTPUT_FAILED', `output "${name}" (${driver}) did not accept the safe level`);
      process.stdout.write(`${name}: off (${driver})\n`);
      return ExitCode.ok;
    }
    if (outcome.status === 'refused' || outcome.status === 'failed' || outcome.status === 'missed') {
      throw new AgentError('OUTPUT_FAILED', `output "${name}": ${outcome.status}: ${outcome.detail ?? 'no detail'}`);
    }
    const st = (await bank.status()).outputs[0]!;
    if (st.level !== 'inactive' || st.actuations !== 1) throw new AgentError('OUTPUT_FAILED', `output "${name}" (${driver}) did not complete: level ${st.level}, failures ${st.failures}`);
    process.stdout.write(`${name}: ${pulseMs !== undefined ? `pulsed ${pulseMs} ms` : `on for ${onMs! / 1000} s`}, now off (${driver})\n`);
    return ExitCode.ok;
  } finally {
    await bank.stop();
    unhook();
  }
}

/**
 * Waits for the output's own end-of-activation report. The channel's guard switches off at maxOnMs whatever
 * happens, so a report always comes; the deadline (maxOnMs + 10 s) only turns a bug into an error, not a hang.
 */
async function ending(done: Promise<ActuationReport>, maxOnMs: number): Promise<ActuationReport> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new AgentError('OUTPUT_FAILED', `the output did not report its switch-off within maxOnMs ${maxOnMs} ms + 10 s`)), maxOnMs + 10_000);
  });
  try {
    return await Promise.race([done, late]);
  } finally {
    clearTimeout(timer);
  }
}
