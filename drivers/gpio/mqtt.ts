/**
 * A networked relay switched by MQTT commands, as Tasmota (cmnd/<topic>/POWER with ON/OFF) and Shelly Gen1
 * (shellies/<id>/relay/0/command with on/off) take them. The broker connection belongs to the MQTT component;
 * this driver only publishes through the injected function. There is no synchronous path: on a crash the OFF
 * command is sent best-effort, so networked relays should also have their own on-device timer (Tasmota PulseTime).
 */
import { AgentError } from '../../agent/errors.js';
import type { Actuator, DriverContext, PublishFn } from '../../agent/actuators/actuator.js';

export interface MqttDriverConfig {
  topic: string;
  payloadOn: string;
  payloadOff: string;
  retain: boolean;
  qos?: 0 | 1 | 2;
}

export class MqttRelayActuator implements Actuator {
  readonly type = 'mqtt';
  private publish: PublishFn | undefined;

  constructor(
    private readonly cfg: MqttDriverConfig,
    private readonly ctx: DriverContext,
  ) {}

  describe(): string {
    return `mqtt relay ${this.cfg.topic} (${this.cfg.payloadOn}/${this.cfg.payloadOff})`;
  }

  async start(): Promise<void> {
    if (!this.ctx.publish) {
      throw new AgentError('OUTPUT_INVALID', `output "${this.ctx.output}": an mqtt output needs the agent's MQTT connection`, {
        fix: 'configure events.mqtt (broker URL), or use --simulate-outputs to test without a broker',
      });
    }
    this.publish = this.ctx.publish;
    await this.send(false);
  }

  async write(active: boolean, _reason?: string): Promise<void> {
    await this.send(active);
  }

  async safe(_reason?: string): Promise<void> {
    await this.send(false);
  }

  safeSync(_reason?: string): boolean {
    // Queue the OFF command; it cannot be confirmed synchronously.
    this.send(false).catch((err: unknown) => this.ctx.log.error({ err, output: this.ctx.output }, 'could not send OFF to the MQTT relay'));
    return false;
  }

  async stop(): Promise<void> {
    if (!this.publish) return;
    await this.send(false);
    this.publish = undefined;
  }

  private async send(active: boolean): Promise<void> {
    if (!this.publish) throw new AgentError('OUTPUT_FAILED', `output "${this.ctx.output}": not started`);
    const payload = active ? this.cfg.payloadOn : this.cfg.payloadOff;
    try {
      await this.publish(this.cfg.topic, payload, { qos: this.cfg.qos ?? 1, retain: this.cfg.retain });
    } catch (err) {
      throw new AgentError('OUTPUT_FAILED', `output "${this.ctx.output}": publishing ${payload} to ${this.cfg.topic} failed`, { cause: err });
    }
  }
}
