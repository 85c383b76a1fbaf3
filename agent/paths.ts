import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/** The package folder (where package.json of edge-agent is), from src/ or dist/ alike. */
export function packageRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'edge-agent') return (root = dir);
    dir = dirname(dir);
  }
  throw new Error('edge-agent package.json not found above the running module');
}

/** The built-in demo configuration. */
export function demoConfigPath(): string {
  return join(packageRoot(), 'config', 'conveyor-demo.yaml');
}

/**
 * V8 flags the agent process runs with, wherever it is started: the systemd unit and the installer's drop-in,
 * bin/edge-agent.js's #! line, the demo and the pipeline benchmark. The frame loop makes short-lived garbage
 * (frame buffers, outputs, detections) at camera rate, and every isolate (main, outputs worker, inference worker)
 * has its own young generation: 1 MB semi-spaces instead of V8's default of up to 16 MB keep peak RSS lower with no
 * measurable CPU cost (scripts/bench/pipeline.ts, demo run with inference in a worker: 2 MB -> 1 MB took peak RSS
 * from 155 to 144 MB, throughput within run-to-run noise). V8 reads it only at start, so it must be on the command
 * line. A test keeps the four places in step.
 */
export const AGENT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];

/**
 * Environment the agent process starts with, in the same places as AGENT_NODE_FLAGS. glibc gives every thread that
 * allocates its own malloc arena (up to 8 per core), and the inference worker, the output thread and libuv's pool
 * each keep freed memory in theirs: two arenas in all took peak RSS of the demo clip played 4 times from 151-153 to
 * 144-147 MB (2 runs each), throughput within run-to-run noise. glibc reads it at start, so it cannot be set later.
 */
export const AGENT_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };

/** Seed of the bundled demo clip: never used to train the demo model (training uses seeds 1-999). */
export const DEMO_SEED = 4242;

/** Where the bundled demo clip is generated (deterministically, from DEMO_SEED) the first time it is needed. */
export function demoSceneDir(): string {
  return join(packageRoot(), '.cache', 'demo', `seed-${DEMO_SEED}`);
}

/**
 * The state folder (outbox, bench cache, output ledger), resolved the same way by every command: --state-dir,
 * else the config's stateDir (relative to the config file), else $STATE_DIRECTORY (systemd StateDirectory=),
 * else /var/lib/edge-agent under systemd, else ./state.
 */
export function resolveStateDir(o: { flag?: string | undefined; configStateDir?: string | undefined; configBaseDir?: string | undefined; env?: NodeJS.ProcessEnv; cwd?: string } = {}): string {
  const env = o.env ?? process.env;
  const cwd = o.cwd ?? process.cwd();
  if (o.flag) return resolve(cwd, o.flag);
  if (o.configStateDir) return resolve(o.configBaseDir ?? cwd, o.configStateDir);
  const fromSystemd = env.STATE_DIRECTORY?.split(':')[0];
  if (fromSystemd) return fromSystemd;
  if (env.INVOCATION_ID) return '/var/lib/edge-agent';
  return resolve(cwd, 'state');
}

/**
 * The agent's version: package.json's "version" ("0.0.0-unknown" when unreadable). The one reader of it;
 * agent/version.ts keeps its value (`version`) for --version, doctor, the build-info metric, the MQTT status and
 * Home Assistant discovery's sw_version.
 */
export function packageVersion(): string {
  try {
    const v = (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version?: unknown }).version;
    return typeof v === 'string' && v !== '' ? v : '0.0.0-unknown';
  } catch {
    return '0.0.0-unknown';
  }
}
