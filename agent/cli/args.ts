import { parseArgs, type ParseArgsConfig } from 'node:util';

/** parseArgs with strict options, and `--help` printing the given usage text. */
export function parseCommandArgs<T extends NonNullable<ParseArgsConfig['options']>>(
  argv: string[],
  options: T,
  usage: string,
): { values: ReturnType<typeof parseArgs<{ options: T; strict: true; allowPositionals: true }>>['values']; positionals: string[]; help: boolean } {
  const all = { ...options, help: { type: 'boolean', short: 'h' } } as T;
  const res = parseArgs({ args: argv, options: all, strict: true, allowPositionals: true });
  const values = res.values as Record<string, unknown>;
  if (values.help) {
    process.stdout.write(`${usage.trim()}\n`);
    return { values: res.values, positionals: res.positionals, help: true };
  }
  return { values: res.values, positionals: res.positionals, help: false };
}
