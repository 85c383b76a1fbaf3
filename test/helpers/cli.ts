import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sh } from './sh.js';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const sharedDir = resolve(repoRoot, '..', 'shared');
export const sharedModels = join(sharedDir, 'models');
export const hasShared = existsSync(sharedModels);

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI (`node bin/edge-agent.js ...`) as a user would, with a timeout. */
export async function runCli(args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CliResult> {
  const r = await sh(process.execPath, [join(repoRoot, 'bin', 'edge-agent.js'), ...args], {
    cwd: opts.cwd ?? repoRoot,
    env: { EDGE_AGENT_LOG_LEVEL: process.env.EDGE_AGENT_LOG_LEVEL ?? 'warn', ...opts.env },
    timeout: opts.timeoutMs ?? 120_000,
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/**
 * The built CLI with the process's exit status as `status` (-1 when killed), never blocking the test worker: the
 * form the optimize, bench and floor tests share. `env` adds to this process's environment (log level warn).
 */
export async function edgeAgent(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ status: number; stdout: string; stderr: string }> {
  const r = await sh(process.execPath, [join(repoRoot, 'bin', 'edge-agent.js'), ...args], { cwd: repoRoot, env: { EDGE_AGENT_LOG_LEVEL: 'warn', ...env } });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Frames of a generated demo scene in `dir`/frames (PNG, `fps` a second), as a user saves them from the camera: the
 * calibration and held-out frames of the optimize, bench and floor tests. Throws with the tool's message on failure.
 */
export async function demoSceneFrames(dir: string, o: { seed: number; seconds: number; parts: number; fps: number }): Promise<string> {
  const scene = join(dir, 'scene');
  const gen = await sh(process.execPath, [join(repoRoot, 'dist', 'scripts', 'make-demo-scene.js'), '--seed', String(o.seed), '--out', scene, '--seconds', String(o.seconds), '--parts', String(o.parts)]);
  if (gen.status !== 0) throw new Error(`make-demo-scene failed: ${gen.stderr}`);
  const frames = join(dir, 'frames');
  mkdirSync(frames, { recursive: true });
  const ff = await sh('ffmpeg', ['-v', 'error', '-i', join(scene, 'conveyor.mp4'), '-vf', `fps=${o.fps}`, join(frames, 'f%03d.png')]);
  if (ff.status !== 0) throw new Error(`ffmpeg could not cut frames: ${ff.stderr}`);
  return frames;
}

/** The lines of stderr that are not JSON log records (what a user reads as the error). */
export function plainLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.trim() && !l.startsWith('{'));
}
