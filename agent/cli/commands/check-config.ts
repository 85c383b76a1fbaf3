import { ExitCode } from '../../errors.js';
import { checkConfigFile } from '../../config/load.js';
import { formatProblem } from '../../config/issues.js';
import type { AgentConfig } from '../../config/schema.js';
import { parseCommandArgs } from '../args.js';
import { readFileSync } from 'node:fs';
import { parseWithLines, type Problem } from '../../config/issues.js';

export const summary = 'validate a config file: every problem with its line, exit 78 if any';

const usage = `
usage: edge-agent check-config [--json] [--sysroot DIR] FILE

Checks FILE (YAML) against the configuration schema, the cross-field rules (outputs named by rules exist,
pulses fit maxOnMs, one output per GPIO line) and the files it names (model manifest and variant files with
their sha256, video file, image folder, MQTT password and TLS files; relative to FILE's folder), the IIO ADC
channels sensor inputs read (under --sysroot, default /) and the labels irrigation zones wait for (the model's).
Prints one line per problem, "FILE:LINE: path: what is wrong", and exits 78 (EX_CONFIG); exits 0 when valid.

  --sysroot DIR   look for /sys/bus/iio under DIR (checking a config for another board's image)
  --json   print {"ok", "file", "problems": [{"path","line","message"}]} instead
`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals, help } = parseCommandArgs(argv, { json: { type: 'boolean' }, sysroot: { type: 'string' } }, usage);
  if (help) return ExitCode.ok;
  if (positionals.length !== 1) {
    process.stderr.write(`edge-agent: check-config needs exactly one FILE: edge-agent check-config /etc/edge-agent/config.yaml\n`);
    return ExitCode.usage;
  }
  const res = await checkConfigFile(positionals[0]!);
  if (res.ok && res.config) {
    const farm = await farmProblems(res.config, res.path, values.sysroot ?? '/');
    if (farm.length) Object.assign(res, { ok: false, config: undefined, problems: [...res.problems, ...farm] });
  }
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ ok: res.ok, file: res.path, problems: res.problems })}\n`);
    return res.ok ? ExitCode.ok : ExitCode.config;
  }
  if (!res.ok) {
    for (const p of res.problems) process.stdout.write(`${formatProblem(res.path, p)}\n`);
    const n = res.problems.length;
    process.stderr.write(`edge-agent: ${n} problem${n === 1 ? '' : 's'} in ${res.path}: fix ${n === 1 ? 'it' : 'them'} and run check-config again\n`);
    return ExitCode.config;
  }
  process.stdout.write(`ok: ${res.path} is valid\n${describe(res.config!)}\n`);
  return ExitCode.ok;
}

/** IIO channels that are not there and zone labels the model lacks (agent/app/farm-wiring.ts), with their lines. */
async function farmProblems(config: AgentConfig, file: string, sysRoot: string): Promise<Problem[]> {
  if (!config.sensors && !config.irrigation) return [];
  const { farmConfigProblems } = await import('../../app/farm-wiring.js');
  const found = farmConfigProblems(config, file, sysRoot);
  if (!found.length) return found;
  const { locate } = parseWithLines(readFileSync(file, 'utf8'));
  return found.map((p) => ({ ...p, line: locate(p.path.split('.')) }));
}

/** One line saying what the config will do. */
function describe(c: AgentConfig): string {
  const src = c.source;
  const where =
    src.type === 'file' ? src.path : src.type === 'v4l2' ? src.device : src.type === 'rtsp' ? redact(src.url) : src.type === 'images' ? src.dir : src.type === 'libcamera' ? `camera ${src.camera}` : src.type === 'jetson-csi' ? `sensor ${src.sensorId}` : src.tool;
  const outputs = Object.entries(c.outputs).map(([name, o]) => `${name} (${o.driver.type})`);
  const sinks = [c.events.jsonl ? 'jsonl' : undefined, c.events.mqtt ? 'mqtt' : undefined].filter(Boolean);
  return [
    `source ${src.type} ${where}`,
    `model ${c.model.manifest}${c.model.variant ? ` [${c.model.variant}]` : ''}`,
    `${c.rules.length} rule${c.rules.length === 1 ? '' : 's'}`,
    `outputs: ${outputs.join(', ') || 'none'}`,
    `events: ${sinks.join(' + ') || 'none'}`,
    `health: ${c.health.enabled ? c.health.listen : 'off'}`,
  ].join('; ');
}

/** Never print credentials embedded in a URL. */
function redact(url: string): string {
  return url.replace(/\/\/[^/@]*@/, '//***@');
}
