import type { Logger } from '../log.js';

/**
 * One physical (or simulated) output. Drivers know nothing of limits: the safety layer (./channel.ts) decides
 * when to write; a driver only drives a line. Levels are LOGICAL: `true` is active (relay on, gate open); the
 * driver applies activeLow.
 */
export interface Actuator {
  readonly type: string;
  /** e.g. "gpiochip pinctrl-bcm2711 (/dev/gpiochip0) line 17 GPIO17, active-low". */
  describe(): string;
  /** Claims the line and drives it to the safe (inactive) level. Config and permission problems throw AgentError. */
  start(): Promise<void>;
  /** Drives the line to the logical level. Rejects when the write did not happen. */
  write(active: boolean, reason: string, intent?: WriteIntent): Promise<void>;
  /** Inactive level now (same as write(false)). */
  safe(reason: string): Promise<void>;
  /**
   * Inactive level synchronously, for the crash path (uncaught exception, signal) where no promise will run.
   * Returns false when the driver cannot do it synchronously (MQTT).
   */
  safeSync(reason: string): boolean;
  /** Leaves the line safe and releases it. */
  stop(): Promise<void>;
}

/** How a Tasmota/Shelly relay command is published; the MQTT connection belongs to the MQTT component. */
export type PublishFn = (topic: string, payload: string, opts: { qos: 0 | 1 | 2; retain: boolean }) => Promise<void>;

/** What a driver factory gets besides its own config. Everything touching the OS is injectable. */
export interface DriverContext {
  /** Output name (for the consumer label, the journal and logs). */
  output: string;
  activeLow: boolean;
  log: Logger;
  /** Root of /dev (gpiochip devices); default "/dev". */
  devRoot?: string;
  /** Root of /sys/class/gpio's tree, i.e. the folder holding class/gpio; default "/sys". */
  sysRoot?: string;
  /** The ioctl/open layer for gpiochip; default the real one (koffi). Tests pass a fake kernel. */
  gpioSyscalls?: import('../../drivers/gpio/syscalls.js').GpioSyscalls;
  /** For mqtt outputs. */
  publish?: PublishFn;
  /** For dry-run outputs: the JSONL journal file. */
  journal?: string;
  /** Wall clock for journal timestamps; default Date.now. */
  wall?: () => number;
}

/**
 * When the safety layer meant the write to happen (wall-clock ms): a pulse's due time for its switch-on, the
 * planned end (actual switch-on + width, or the hold's end) for its switch-off. Journalling drivers record it, so
 * timing can be checked against what was intended rather than against a busy machine's scheduling.
 */
export interface WriteIntent {
  dueWall: number;
  /**
   * The intended time in the clip (ms of media time) when the pulse came from a frame: its due time for the
   * switch-on, due + width for its switch-off. The same for a replay and a live run of the same clip.
   */
  mediaMs?: number;
}
