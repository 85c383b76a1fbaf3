import { AgentError, ExitCode } from '../../errors.js';
import { parseCommandArgs } from '../args.js';

export const summary = 'show a model file\'s inputs, outputs, shapes, dtypes, layout and quantisation, and draft its manifest';

const usage = `
usage: edge-agent inspect MODEL_FILE [--json]

Reads an ONNX (.onnx) or TFLite (.tflite) model and prints its input and output tensors (names, shapes, dtypes,
the layout guessed from the shape, TFLite quantisation scale/zero point per tensor or per axis), whether it is
quantised, whether a TFLite file is compiled for the Edge TPU, the decoder family guessed from the output shapes,
and a drafted manifest.json to confirm and edit (labels, colour order, normalisation and the decoder's parameters
are guesses; docs/models.md explains each). TFLite files are read directly, without the TFLite runtime.

  --json   print everything as one JSON object
`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals, help } = parseCommandArgs(argv, { json: { type: 'boolean' } }, usage);
  if (help) return ExitCode.ok;
  if (positionals.length !== 1) throw new AgentError('USAGE', positionals.length ? `give one model file, not ${positionals.length}` : 'give the model file to inspect', { fix: 'edge-agent inspect path/to/model.onnx (or model.tflite)' });
  const { inspectModel, formatInspection } = await import('../../../scripts/optimize/inspect-model.js');
  const r = inspectModel(positionals[0]!);
  process.stdout.write(values.json ? `${JSON.stringify(r, null, 2)}\n` : formatInspection(r));
  return ExitCode.ok;
}
