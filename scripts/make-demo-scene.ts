/**
 * `npm run make-demo-scene -- --seed N --out DIR [--parts K] [--seconds S]`
 * Renders the conveyor demo scene for a seed: DIR/conveyor.mp4, DIR/truth.json, DIR/boxes.jsonl.
 */
import { parseCommandArgs } from '../agent/cli/args.js';
import { AgentError, ExitCode, isAgentError, messageOf } from '../agent/errors.js';
import { writeScene } from './demo-scene/write.js';

const USAGE = `
usage: make-demo-scene --seed N --out DIR [--parts K] [--seconds S] [--every E]
  --seed N      integer seed (same seed, same scene)
  --out DIR     output folder (created): conveyor.mp4, truth.json, boxes.jsonl
  --parts K     parts on the belt, 1..200 (default 12)
  --seconds S   clip length (default: until the last part has left the picture)
  --every E     keep only every E-th frame (time-lapse training data; default 1)
`;

function intArg(name: string, raw: string | undefined, lo: number, hi: number): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < lo || n > hi) {
    throw new AgentError('USAGE', `--${name} must be an integer from ${lo} to ${hi}, got "${raw}"`, { fix: `pass e.g. --${name} ${lo}` });
  }
  return n;
}

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseCommandArgs(argv, { seed: { type: 'string' }, out: { type: 'string' }, parts: { type: 'string' }, seconds: { type: 'string' }, every: { type: 'string' } }, USAGE);
  } catch (err) {
    throw new AgentError('USAGE', messageOf(err), { fix: 'run with --help for the options' });
  }
  if (parsed.help) return ExitCode.ok;
  const { values, positionals } = parsed;
  if (positionals.length) throw new AgentError('USAGE', `unexpected argument "${positionals[0]}"`, { fix: 'run with --help for the options' });
  const seed = intArg('seed', values.seed, 0, 0xffffffff);
  if (seed === undefined) throw new AgentError('USAGE', 'missing --seed', { fix: 'pass --seed N (an integer)' });
  if (!values.out) throw new AgentError('USAGE', 'missing --out', { fix: 'pass --out DIR (the folder to write the scene to)' });
  const parts = intArg('parts', values.parts, 1, 200);
  const every = intArg('every', values.every, 1, 1000);
  let seconds: number | undefined;
  if (values.seconds !== undefined) {
    seconds = Number(values.seconds);
    if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 3600) {
      throw new AgentError('USAGE', `--seconds must be a number above 0 and at most 3600, got "${values.seconds}"`, { fix: 'pass e.g. --seconds 10' });
    }
  }
  const res = await writeScene(values.out, { seed, parts, seconds, every });
  const t = res.summary;
  const defects = t.parts.filter((p) => p.defect).length;
  const kept = every && every > 1 ? ` (every ${every}th kept)` : '';
  process.stdout.write(`${res.video}: ${t.frames} frames${kept} ${t.width}x${t.height} @${t.fps} fps, ${t.parts.length} parts (${defects} defective)\n`);
  return ExitCode.ok;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (isAgentError(err)) {
      process.stderr.write(`make-demo-scene: ${err.oneLine()}\n`);
      process.exit(err.exitCode);
    }
    process.stderr.write(`make-demo-scene: internal error: ${messageOf(err)}\n`);
    process.exit(ExitCode.software);
  },
);
