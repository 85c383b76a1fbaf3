/**
 * `npm run make-field-scene -- --seed N --out DIR [--hours H]`
 * Renders the farm demo's field time-lapse for a seed: DIR/field.mp4 and DIR/truth.json.
 */
import { parseCommandArgs } from '../agent/cli/args.js';
import { AgentError, ExitCode, isAgentError, messageOf } from '../agent/errors.js';
import { writeField } from './field-scene/write.js';

const USAGE = `
usage: make-field-scene --seed N --out DIR [--hours H]
  --seed N      integer seed (same seed, same scene)
  --out DIR     output folder (created): field.mp4, truth.json
  --hours H     scene length in hours from local midnight, 1..168 (default 24; one frame per 5 minutes)
`;

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseCommandArgs(argv, { seed: { type: 'string' }, out: { type: 'string' }, hours: { type: 'string' } }, USAGE);
  } catch (err) {
    throw new AgentError('USAGE', messageOf(err), { fix: 'run with --help for the options' });
  }
  if (parsed.help) return ExitCode.ok;
  const { values, positionals } = parsed;
  if (positionals.length) throw new AgentError('USAGE', `unexpected argument "${positionals[0]}"`, { fix: 'run with --help for the options' });
  const raw = values.seed;
  if (raw === undefined) throw new AgentError('USAGE', 'missing --seed', { fix: 'pass --seed N (an integer)' });
  const seed = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(seed) || seed > 0xffffffff) {
    throw new AgentError('USAGE', `--seed must be an integer from 0 to 4294967295, got "${raw}"`, { fix: 'pass e.g. --seed 7' });
  }
  if (!values.out) throw new AgentError('USAGE', 'missing --out', { fix: 'pass --out DIR (the folder to write the scene to)' });
  let hours = 24;
  if (values.hours !== undefined) {
    hours = Number(values.hours);
    if (!Number.isFinite(hours) || hours < 1 || hours > 168) {
      throw new AgentError('USAGE', `--hours must be a number from 1 to 168, got "${values.hours}"`, { fix: 'pass e.g. --hours 24' });
    }
  }
  const res = await writeField(values.out, { seed, hours });
  const t = res.summary;
  const needing = t.zones.filter((z) => z.needsWater.some(Boolean)).length;
  process.stdout.write(`${res.video}: ${t.frames} frames ${t.width}x${t.height} @${t.fps} fps (${t.minutesPerFrame} min a frame), ${t.zones.length} zones (${needing} needed water), ${t.visitors.length} visitors\n`);
  return ExitCode.ok;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (isAgentError(err)) {
      process.stderr.write(`make-field-scene: ${err.oneLine()}\n`);
      process.exit(err.exitCode);
    }
    process.stderr.write(`make-field-scene: internal error: ${messageOf(err)}\n`);
    process.exit(ExitCode.software);
  },
);
