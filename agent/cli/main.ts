import { readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AgentError, ExitCode, isAgentError, messageOf } from '../errors.js';

/**
 * `edge-agent <command> [options]`. Each command is a module in ./commands/<name>.js exporting
 * `summary` (one line for the help) and `run(argv): Promise<number>` (the exit status), loaded on demand so
 * that a command's native dependencies (ONNX Runtime, TFLite, MQTT) load only when it is used.
 */
export interface Command {
  summary: string;
  run(argv: string[]): Promise<number>;
}

const commandsDir = resolveCommandsDir();

function resolveCommandsDir(): string {
  return `${dirname(fileURLToPath(import.meta.url))}/commands`;
}

function commandNames(): string[] {
  try {
    return readdirSync(commandsDir)
      .filter((f) => f.endsWith('.js'))
      .map((f) => f.slice(0, -3))
      .sort();
  } catch {
    return [];
  }
}

async function loadCommand(name: string): Promise<Command | undefined> {
  if (!/^[a-z][a-z0-9-]*$/.test(name) || !commandNames().includes(name)) return undefined;
  return (await import(`./commands/${name}.js`)) as Command;
}

async function help(): Promise<string> {
  const lines = ['usage: edge-agent <command> [options]', '', 'commands:'];
  for (const name of commandNames()) {
    const cmd = await loadCommand(name).catch(() => undefined);
    lines.push(`  ${name.padEnd(14)} ${cmd?.summary ?? ''}`);
  }
  lines.push('', 'Run `edge-agent <command> --help` for its options.');
  return lines.join('\n');
}

/** Runs the CLI; returns the exit status. User mistakes print one line, never a stack trace. */
export async function cli(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${await help()}\n`);
    return name ? ExitCode.ok : ExitCode.usage;
  }
  try {
    const cmd = await loadCommand(name);
    if (!cmd) throw new AgentError('USAGE', `unknown command "${name}"`, { fix: `use one of: ${commandNames().join(', ')}` });
    return await cmd.run(rest);
  } catch (err) {
    return reportError(err);
  }
}

/** Prints an error as one line and returns its exit status. Internal errors keep their stack (they are bugs). */
export function reportError(err: unknown): number {
  if (isAgentError(err)) {
    process.stderr.write(`edge-agent: ${err.oneLine()}\n`);
    return err.exitCode;
  }
  if (err instanceof TypeError && (err as NodeJS.ErrnoException).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    process.stderr.write(`edge-agent: ${messageOf(err)}\n`);
    return ExitCode.usage;
  }
  if (err && typeof err === 'object' && typeof (err as NodeJS.ErrnoException).code === 'string' && (err as NodeJS.ErrnoException).code!.startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`edge-agent: ${messageOf(err)}\n`);
    return ExitCode.usage;
  }
  process.stderr.write(`edge-agent: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return ExitCode.software;
}
