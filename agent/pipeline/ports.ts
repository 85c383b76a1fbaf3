import type { ActionOutcome, AnomalyEvent, Frame, Geometry } from '../types.js';

/** What the loop needs from the outputs (implemented by the actuator safety layer). */
export interface OutputsPort {
  /**
   * A timed pulse, due at a main-thread performance.now() time (a replay with simulated outputs: media time);
   * a past deadline is reported as missed. `mediaMs`: its intended time in the clip, for the journal.
   */
  pulse(name: string, req: { dueMono: number; widthMs: number; reason: string; mediaMs?: number }): Promise<ActionOutcome> | ActionOutcome;
  hold(name: string, req: { durationMs: number; reason: string }): Promise<ActionOutcome> | ActionOutcome;
  /** Called for every processed frame; outputs go safe when these stop (a stalled loop). */
  heartbeat(): void;
}

/** What the loop needs from the event sinks (one hub fanning out to all sinks). */
export interface EventsPort {
  /** Resolves once the event is durably queued (the frame is the evidence for snapshots). */
  emit(ev: AnomalyEvent, evidence?: { frame: Frame; geometry?: Geometry; snapshot?: boolean }): Promise<unknown>;
}

/** Hooks for liveness and metrics (systemd watchdog, /healthz, /metrics). */
export interface LoopObserver {
  /** After the first successful inference (systemd READY). */
  firstInference?(): void;
  /** After every processed frame, with its per-stage times in ms (stages absent when inference was skipped). */
  frame?(stagesMs: Record<string, number>): void;
}
