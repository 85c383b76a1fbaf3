/**
 * The page's "test" button: one pulse or hold on a configured output, through the same safety layer the rules
 * and `edge-agent actuate` use (the OutputBank: maxOnMs guard timer, minimum off-time, daily budget). A request
 * longer than the output allows is refused here with the same words as `actuate`, before anything moves.
 */
import type { Logger } from '../log.js';
import { MANUAL_PULSE_LEAD_MS } from '../actuators/output-bank.js';
import type { ActionOutcome } from '../types.js';
import type { OutputConfig } from '../config/sections/outputs.js';
import type { ActionResult, TestRequest } from './source.js';

export interface OutputDriving {
  pulse(name: string, req: { dueMono: number; widthMs: number; reason: string }): Promise<ActionOutcome>;
  hold(name: string, req: { durationMs: number; reason: string }): Promise<ActionOutcome>;
}

export class OutputTester {
  constructor(
    private readonly bank: OutputDriving,
    private readonly outputs: Record<string, OutputConfig>,
    private readonly log: Logger,
    private readonly now: () => number = () => performance.now(),
  ) {}

  async test(req: TestRequest): Promise<ActionResult> {
    const out = this.outputs[req.output];
    const refuse = (status: number, message: string): ActionResult => {
      this.log.warn({ operator: req.operator, output: req.output, mode: req.mode, ms: req.ms }, `output test refused: ${message}`);
      return { ok: false, status, message };
    };
    if (!out) return refuse(404, `no output named "${req.output}" (configured: ${Object.keys(this.outputs).join(', ') || 'none'})`);
    if (req.mode !== 'pulse' && req.mode !== 'hold') return refuse(400, `mode must be "pulse" or "hold", not "${String(req.mode)}"`);
    if (typeof req.ms !== 'number' || !Number.isFinite(req.ms) || req.ms <= 0) return refuse(400, `the ${req.mode} length must be a positive number of ms, not "${String(req.ms)}"`);
    if (req.ms > out.maxOnMs) {
      return refuse(400, `${req.mode} of ${req.ms} ms is longer than output "${req.output}" allows (maxOnMs ${out.maxOnMs}): use at most ${out.maxOnMs} ms, or raise outputs.${req.output}.maxOnMs in the config if the hardware allows it`);
    }
    const reason = `status page test by ${req.operator}`;
    const outcome = req.mode === 'pulse' ? await this.bank.pulse(req.output, { dueMono: this.now() + MANUAL_PULSE_LEAD_MS, widthMs: req.ms, reason }) : await this.bank.hold(req.output, { durationMs: req.ms, reason });
    const good = outcome.type === 'pulse' ? outcome.status === 'scheduled' || outcome.status === 'fired' : outcome.type === 'hold' && outcome.status === 'on';
    if (!good) return refuse(409, `output "${req.output}" ${outcome.type === 'event' ? 'failed' : outcome.status} the test: ${('detail' in outcome && outcome.detail) || 'no detail'}`);
    this.log.info({ operator: req.operator, output: req.output, mode: req.mode, ms: req.ms }, `output ${req.output}: test ${req.mode} ${req.ms} ms`);
    return { ok: true, message: `${req.output}: ${req.mode} of ${req.ms} ms ${outcome.status}`, outcome };
  }
}
