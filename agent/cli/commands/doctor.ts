import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { machine } from 'node:os';
import { resolve } from 'node:path';
import { parseCommandArgs } from '../args.js';
import { AgentError, messageOf } from '../../errors.js';
import { configPath, loadConfigFile } from '../../config/load.js';
import { loadManifest, type LoadedManifest } from '../../model/manifest.js';
import { modelConfigSchema } from '../../config/sections/model.js';
import { silentLogger } from '../../log.js';
import { createModelHost } from '../../app/compose.js';
import { benchCachePath, hardwareFingerprint, readBenchCache } from '../../select/bench-cache.js';
import { formatDoctorReport, type DoctorReport } from '../../select/doctor-report.js';
import { selectVariant, type SelectionConfig } from '../../select/select.js';
import { probe, type ProbeCommands } from '../../../drivers/probe/probe.js';
import { detectCapabilities } from '../../../drivers/probe/capabilities.js';
import { listVideoDevices } from '../../../drivers/camera/v4l2-devices.js';
import { packageRoot, resolveStateDir } from '../../paths.js';
import { version } from '../../version.js';
import { installHint } from '../../model/install-hint.js';

export const summary = 'detect the board and accelerators, check what can run here, and explain the model variant choice';

const usage = `
usage: edge-agent doctor [--sysroot DIR] [--json] [--model MANIFEST] [--config FILE] [--state-dir DIR]

Probes the hardware (board, CPU, memory, thermal state, Coral USB/PCIe, Jetson GPU), tries the runtimes
(ONNX Runtime providers, TFLite, libedgetpu), scores every model variant and prints the choice with reasons.

  --sysroot DIR    read /proc, /sys, /dev and /etc under DIR instead of / (e.g. a board fixture)
  --json           print one JSON object instead of text
  --model PATH     model manifest (file or folder); default: the config's model.manifest, else
                   models/conveyor-demo/manifest.json in the package
  --config FILE    take model.manifest, model.selection (alpha, beta, latencyBudgetMs) and stateDir from FILE
  --state-dir DIR  where the benchmark cache lives (default: config stateDir, $STATE_DIRECTORY, ./state)
`;

export async function run(argv: string[]): Promise<number> {
  const { values, help } = parseCommandArgs(
    argv,
    {
      sysroot: { type: 'string' },
      json: { type: 'boolean' },
      model: { type: 'string' },
      config: { type: 'string' },
      'state-dir': { type: 'string' },
    },
    usage,
  );
  if (help) return 0;
  const root = values.sysroot ? resolve(values.sysroot) : '/';
  if (values.sysroot && !(existsSync(root) && statSync(root).isDirectory())) {
    throw new AgentError('USAGE', `--sysroot ${values.sysroot} is not a folder`, { fix: 'give the folder that holds proc/, sys/, dev/ and etc/ of the board' });
  }

  const loadedConfig = values.config ? loadConfigFile(values.config) : undefined;
  const selection: SelectionConfig = loadedConfig?.config.model.selection ?? { alpha: 100, beta: 1 };
  const problems: string[] = [];

  let manifest: LoadedManifest | undefined;
  const explicit = values.model ?? (loadedConfig ? configPath(loadedConfig, loadedConfig.config.model.manifest) : undefined);
  if (explicit) {
    manifest = loadManifest(explicit);
  } else {
    const fallback = resolve(packageRoot(), 'models', 'conveyor-demo', 'manifest.json');
    if (existsSync(fallback)) manifest = loadManifest(fallback);
    else problems.push(`no model manifest at ${fallback}: variants not scored (give --model path/to/manifest.json)`);
  }

  // User mistakes (bad --model/--config) fail above, before the slower hardware and runtime probing.
  const profile = probe(root, root === '/' ? realCommands() : {});
  const capabilities = await detectCapabilities(profile, { packageRoot: packageRoot() });

  const stateDir = resolveStateDir({ flag: values['state-dir'], configStateDir: loadedConfig?.config.stateDir, configBaseDir: loadedConfig?.baseDir });
  const benchCache = readBenchCache(benchCachePath(stateDir), (p) => problems.push(p));

  const fingerprint = hardwareFingerprint(profile);
  // The same choice as `run` and `detect`: through the model host, on the hardware probed here (or under --sysroot).
  const result = manifest
    ? (await createModelHost({ manifest, settings: modelConfigSchema.parse({ manifest: manifest.path, selection }), stateDir, job: 'live', log: silentLogger }, { hardware: async () => ({ profile, capabilities }) }).choose()).selection
    : selectVariant({ profile, capabilities, variants: [], selection, benchCache, fingerprint, unavailable: {} });

  const report: DoctorReport = {
    root,
    board: profile.board,
    cpu: profile.cpu,
    memory: profile.memory,
    thermal: profile.thermal,
    accelerators: profile.accelerators,
    capabilities,
    fingerprint,
    model: manifest ? { name: manifest.name, path: manifest.path } : null,
    selection,
    variants: result.variants,
    selected: result.selected,
    fallbacks: result.fallbacks,
    summary: manifest ? result.summary : 'no model loaded',
    cameras: listVideoDevices({ root }).map((c) => ({ device: c.device, name: c.name, ...(c.suggested ? { suggested: c.suggested } : {}), ...(c.note ? { note: c.note } : {}) })),
    problems: [...profile.problems, ...problems],
  };
  process.stdout.write(values.json ? `${JSON.stringify({ version, ...report }, null, 2)}\n` : `edge-agent ${version} (node ${process.versions.node})\n${formatDoctorReport(report)}`);
  // Issue 20: a model was given and nothing in it can run on this board: one line saying what to install, exit 69
  // (EX_UNAVAILABLE). The report above still says why each variant was rejected.
  if (manifest && !result.selected) {
    const err = new AgentError('BACKEND_UNAVAILABLE', `no variant of model ${manifest.name} (${manifest.path}) can run here`, { fix: installHint(result.variants, capabilities) });
    process.stderr.write(`edge-agent: ${err.oneLine()}\n`);
    return err.exitCode;
  }
  return 0;
}

/** Command outputs on the real machine: `uname -m` from os.machine(), and vcgencmd on a Pi when installed. */
function realCommands(): ProbeCommands {
  const cmds: ProbeCommands = { unameM: machine() };
  if (existsSync('/proc/device-tree/model') && readFileSync('/proc/device-tree/model', 'latin1').startsWith('Raspberry Pi')) {
    const r = spawnSync('vcgencmd', ['get_throttled'], { encoding: 'utf8', timeout: 2_000 });
    if (r.status === 0 && r.stdout) cmds.vcgencmdGetThrottled = r.stdout;
  }
  return cmds;
}

