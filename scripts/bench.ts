/**
 * `npm run bench`: every benchmark in one run on this machine, tables printed (`--json` for one JSON object,
 * `--only a,b` to pick sections: variants, pipeline, cameras, models, actuation, outbox, status).
 *
 * Speed and memory targets are checked here, by measurement, not by timed unit tests.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger } from '../agent/log.js';
import { loadManifest } from '../agent/model/manifest.js';
import { resolveInferenceThread } from '../agent/model/inference-thread.js';
import { packageRoot } from '../agent/paths.js';
import { benchManifest, formatBench } from '../agent/cli/commands/bench.js';

type Section = 'variants' | 'pipeline' | 'cameras' | 'models' | 'actuation' | 'outbox' | 'status';
const all: Section[] = ['variants', 'pipeline', 'cameras', 'models', 'actuation', 'outbox', 'status'];

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { json: { type: 'boolean' }, only: { type: 'string' } } });
  const only = values.only ? (values.only.split(',') as Section[]) : all;
  const json = Boolean(values.json);
  const log = createLogger({ level: 'warn' });
  const results: Record<string, unknown> = {};
  const print = (title: string, table: string): void => {
    if (!json) process.stdout.write(`\n== ${title}\n${table}${table.endsWith('\n') ? '' : '\n'}`);
  };

  if (only.includes('variants')) {
    const manifest = loadManifest(join(packageRoot(), 'models', 'conveyor-demo'));
    const rows = await benchManifest(manifest, { runs: 300, threads: 1, stateDir: join(packageRoot(), 'state', 'bench'), log });
    results.variants = rows;
    print(`demo model variants (backend call alone, 1 thread, in the ${resolveInferenceThread('auto').thread} thread as the agent would run it here)`, formatBench(manifest.name, rows));
  }
  if (only.includes('pipeline')) {
    const { benchPipeline, formatPipelineTable } = await import('./bench/pipeline.js');
    const r = await benchPipeline({});
    results.pipeline = r;
    print('frame loop vs raw backend vs OpenCV loop', formatPipelineTable(r));
  }
  if (only.includes('cameras')) {
    const { benchCameras, formatCamerasTable } = await import('./bench/cameras.js');
    const r = await benchCameras({});
    results.cameras = r;
    print('cameras on one model host: the bare model, the agent\'s decoders alone, 1 and 4 cameras, the CPU ceiling', formatCamerasTable(r));
  }
  if (only.includes('models')) {
    const { benchModels, formatModelBench } = await import('./bench/models.js');
    const r = await benchModels({});
    results.models = r;
    print('third-party models: backend alone vs preprocess+backend+decode', formatModelBench(r));
  }
  if (only.includes('actuation')) {
    const { benchActuation, formatActuationTable } = await import('./bench/actuation.js');
    const r = await benchActuation({});
    results.actuation = r;
    print('output timing error under full load', formatActuationTable(r));
  }
  if (only.includes('outbox')) {
    const { benchOutbox, formatOutboxTable } = await import('./bench/outbox.js');
    const r = await benchOutbox({});
    results.outbox = r;
    print('outbox to mosquitto (fsync on)', formatOutboxTable(r));
  }
  if (only.includes('status')) {
    const { benchAgentStatusPage, formatAgentStatusTable } = await import('./bench/status-page.js');
    const r = await benchAgentStatusPage({});
    results.status = r;
    print('status page: the frame loop with the page off, unwatched, watched', formatAgentStatusTable(r));
  }
  if (json) process.stdout.write(`${JSON.stringify(results, null, 1)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
