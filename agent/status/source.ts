/**
 * What the status page needs from the agent: a narrow, push-style contract. The agent (its event bus) feeds a
 * StatusFeed (./feed.ts) through the `StatusInputs` methods; the page reads the feed through `StatusSource`:
 * one snapshot when a browser connects, then every change pushed to it (Server-Sent Events), never polling
 * the agent. Frames are different: the agent offers each processed frame as a lazy provider, which the feed
 * calls only while someone watches that camera, at most status.maxFps times a second.
 *
 * Operator actions (`OperatorActions`) go through the agent's own layers: a test pulse through the output
 * safety layer (the OutputBank that `actuate` also uses), a zone through check-config and the SIGHUP reload.
 */
import type { ActionOutcome, AnomalyEvent, Frame, Geometry, TrackedDetection } from '../types.js';
import type { ActuationReport, BankStatus } from '../actuators/output-bank.js';

/** One processed frame as the live view draws it. Boxes are normalised 0..1 to the source picture. */
export interface LiveFrame {
  frame: Frame;
  /** The letterbox of `frame` onto the source picture (the JPEG is cropped to the picture). */
  geometry?: Geometry;
  detections: readonly TrackedDetection[];
  /** Rules that fired on this frame, with the box that made them fire. */
  fired: ReadonlyArray<{ rule: string; label: string; trackId: number | null; bbox: [number, number, number, number] }>;
}

/** Called by the feed only while a viewer watches; must return the frame's pixels as they are now (copied by the feed). */
export type FrameProvider = () => LiveFrame;

export type DeliveryState = 'queued' | 'delivered' | 'failed';

export interface EventView {
  id: string;
  ts: string;
  rule: string;
  label: string;
  score: number;
  bbox: [number, number, number, number];
  trackId: number | null;
  frameSeq: number;
  camera: string;
  actions: ActionOutcome[];
  delivery: DeliveryState;
  deliveryDetail?: string;
  /** True once a JPEG snapshot is available at /status/snapshot/<id>.jpg. */
  snapshot: boolean;
}

export interface OutputView {
  name: string;
  driver: string;
  level: 'active' | 'inactive' | 'stuck';
  maxOnMs: number;
  minOffMs: number;
  /** Daily on-time budget in ms, when the output has one. */
  budgetMs?: number;
  onTodayMs: number;
  actuations: number;
  refused: number;
  missed: number;
  failures: number;
  /** Newest first: fired pulses, offs, refusals (safety), failures, with the reason the safety layer gave. */
  recent: Array<{ at: string; kind: string; reason: string; widthMs?: number; detail?: string }>;
}

export interface DoctorView {
  board: string;
  accelerators: string[];
  model?: { name: string; variant: string; accelerator: string };
  variants: Array<{ name: string; accelerator: string; eligible: boolean; score: number | null; latencyMs: number | null; reason: string; running: boolean }>;
  summary?: string;
  /** Reasons the device runs degraded; empty when healthy. */
  degraded: string[];
}

export interface PerfView {
  fps: number;
  /** Per stage (capture, preprocess, inference, decode, track, rules, total): p50 and p99 in ms. */
  stages: Record<string, { p50: number; p99: number }>;
  tempC?: number;
  throttled?: boolean;
  framesDropped?: number;
}

export interface CameraView {
  name: string;
  describe: string;
  /** Size of the source picture (what zones and boxes are normalised to). */
  width: number;
  height: number;
}

export interface ZoneView {
  rule: string;
  polygon: Array<[number, number]>;
  test: 'center' | 'box';
}

/** Everything a page shows; sent whole when a browser connects. */
export interface StatusState {
  device: { id: string; name?: string };
  cameras: CameraView[];
  zones: ZoneView[];
  /** Every rule by name (a zone may be added to any of them). */
  rules: string[];
  events: EventView[];
  outboxDepth?: number;
  outputs: OutputView[];
  doctor?: DoctorView;
  perf?: PerfView;
  /** sha256 of the config file as last read: a zone save must name it (optimistic concurrency). */
  configHash?: string;
}

/** One change, pushed to every connected page. */
export type StatusUpdate =
  | { type: 'event'; event: EventView }
  | { type: 'delivery'; id: string; delivery: DeliveryState; detail?: string }
  | { type: 'snapshot'; id: string }
  | { type: 'outbox'; depth: number }
  | { type: 'outputs'; outputs: OutputView[] }
  | { type: 'cameras'; cameras: CameraView[] }
  | { type: 'doctor'; doctor: DoctorView }
  | { type: 'perf'; perf: PerfView }
  | { type: 'config'; zones: ZoneView[]; rules: string[]; configHash?: string };

/** What the page reads (implemented by StatusFeed). */
export interface StatusSource {
  state(): StatusState;
  /** Every change until the returned function is called. A throwing listener is dropped and logged. */
  subscribe(listener: (u: StatusUpdate) => void): () => void;
  /** The JPEG of an event, while it is among the recent ones. */
  snapshot(eventId: string): Buffer | undefined;
}

/**
 * What the agent feeds in (each a fault-free, cheap call; the integrator wires them to the event bus):
 * see docs/status-page.md "Wiring" for the bus event behind each.
 */
export interface StatusInputs {
  /** Every processed frame. Cost with nobody watching: one map lookup; the provider is not called. */
  frame(camera: string, provide: FrameProvider): void;
  /** An event was durably queued (evidence: the frame for its snapshot, encoded off the main thread). */
  event(camera: string, ev: AnomalyEvent, evidence?: { frame: Frame; geometry?: Geometry }): void;
  /** The outbox acknowledged (delivered) or gave up on (failed) an event. */
  delivery(eventId: string, state: DeliveryState, detail?: string): void;
  outboxDepth(depth: number): void;
  /** An output report from the safety layer (pulse fired, off, refused, missed, stuck). */
  actuation(report: ActuationReport): void;
  /** The outputs' status (after actuations and every few seconds). */
  outputs(status: BankStatus): void;
  doctor(view: DoctorView): void;
  perf(view: PerfView): void;
  /** The config was (re)loaded: its zones, rules and file hash. */
  config(zones: ZoneView[], rules: string[], configHash?: string): void;
}

export interface TestRequest {
  output: string;
  mode: 'pulse' | 'hold';
  ms: number;
  /** Who asked, for the log and the actuation reason. */
  operator: string;
}

export interface ZoneRequest {
  rule: string;
  polygon: Array<[number, number]>;
  test: 'center' | 'box';
  /** The configHash the operator's page was showing. */
  configHash: string;
  operator: string;
}

/** Result of an action: ok with a message, or refused with the HTTP status and a message saying the fix. */
export type ActionResult = { ok: true; message: string; outcome?: ActionOutcome; configHash?: string } | { ok: false; status: number; message: string };

/** What an authenticated operator may do. */
export interface OperatorActions {
  testOutput(req: TestRequest): Promise<ActionResult>;
  saveZone(req: ZoneRequest): Promise<ActionResult>;
}
