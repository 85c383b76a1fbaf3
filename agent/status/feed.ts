/**
 * The status page's view of the agent, kept up to date by pushes from the agent (StatusInputs) and read by the
 * page (StatusSource). Recent events are a bounded ring; snapshots are encoded on the snapshot encoder's worker
 * thread, one per event. Every listener runs inside a fault boundary: a broken page connection is logged and
 * dropped, the agent carries on.
 *
 *   const feed = new StatusFeed({ device: { id }, cameras: [{ name: 'main', ... }], outputs: cfg.outputs, log });
 *   bus.on('frame', (e) => feed.frame('main', () => e.live));     // zero cost when nobody watches
 *   bus.on('event', (e) => feed.event('main', e.event, e.evidence));
 *   ...
 *   const handler = createStatusHandler({ feed, actions, ... });   // ./routes.ts
 */
import { silentLogger, type Logger } from '../log.js';
import { SnapshotEncoder } from '../events/snapshot-encoder.js';
import { systemClock, type AnomalyEvent, type Clock, type Frame, type Geometry } from '../types.js';
import type { OutputConfig } from '../config/sections/outputs.js';
import type { ActuationReport, BankStatus } from '../actuators/output-bank.js';
import { LiveView } from './live.js';
import type { CameraView, DeliveryState, DoctorView, EventView, FrameProvider, OutputView, PerfView, StatusInputs, StatusSource, StatusState, StatusUpdate, ZoneView } from './source.js';

export interface StatusFeedOptions {
  device: { id: string; name?: string };
  cameras: CameraView[];
  /** The configured outputs (limits shown next to their state). */
  outputs: Record<string, OutputConfig>;
  maxFps?: number;
  recentEvents?: number;
  /** Largest event snapshot kept, bytes. */
  snapshotBytes?: number;
  encoder?: SnapshotEncoder;
  clock?: Clock;
  log?: Logger;
}

const RECENT_ACTUATIONS = 10;
/** Event snapshots kept unencoded (raw pixels) while no page is connected. */
const DEFERRED_SNAPSHOTS = 4;

export class StatusFeed implements StatusSource, StatusInputs {
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly encoder: SnapshotEncoder;
  private readonly ownsEncoder: boolean;
  private readonly listeners = new Set<(u: StatusUpdate) => void>();
  private readonly live = new Map<string, LiveView>();
  private readonly events: EventView[] = [];
  private readonly snapshots = new Map<string, Buffer>();
  private readonly recent = new Map<string, OutputView['recent']>();
  private readonly deferred: Array<{ view: EventView; evidence: { frame: Frame; geometry?: Geometry } }> = [];
  private outputViews: OutputView[];
  private st: Omit<StatusState, 'events' | 'outputs' | 'cameras' | 'device'> = { zones: [], rules: [] };

  constructor(private readonly o: StatusFeedOptions) {
    this.log = (o.log ?? silentLogger).child({ component: 'status' });
    this.clock = o.clock ?? systemClock;
    this.ownsEncoder = !o.encoder;
    this.encoder = o.encoder ?? new SnapshotEncoder();
    for (const c of o.cameras) this.live.set(c.name, new LiveView(this.encoder, this.clock, o.maxFps ?? 3, (err) => this.log.warn({ err, camera: c.name }, 'live picture could not be encoded')));
    this.outputViews = Object.entries(o.outputs).map(([name, c]) => ({
      name,
      driver: c.driver.type,
      level: 'inactive',
      maxOnMs: c.maxOnMs,
      minOffMs: c.minOffMs,
      ...(c.dailyMaxOnS !== undefined ? { budgetMs: c.dailyMaxOnS * 1000 } : {}),
      onTodayMs: 0,
      actuations: 0,
      refused: 0,
      missed: 0,
      failures: 0,
      recent: [],
    }));
  }

  /**
   * A camera the agent runs (known at start, or first seen on the bus): added, or its description updated. The
   * page hears of it at once. Returns false when nothing changed (the common case, one map lookup).
   */
  camera(view: CameraView): boolean {
    const known = this.o.cameras.find((c) => c.name === view.name);
    if (known && known.describe === view.describe && known.width === view.width && known.height === view.height) return false;
    if (known) Object.assign(known, view);
    else {
      this.o.cameras.push({ ...view });
      this.live.set(view.name, new LiveView(this.encoder, this.clock, this.o.maxFps ?? 3, (err) => this.log.warn({ err, camera: view.name }, 'live picture could not be encoded')));
    }
    this.emit({ type: 'cameras', cameras: this.o.cameras });
    return true;
  }

  /** The live picture of a camera (routes ask it for frames). */
  liveView(camera: string): LiveView | undefined {
    return this.live.get(camera);
  }

  outputLimits(name: string): OutputConfig | undefined {
    return this.o.outputs[name];
  }

  // ---- StatusSource -------------------------------------------------------------------------------------------

  state(): StatusState {
    return { device: this.o.device, cameras: this.o.cameras, events: [...this.events], outputs: this.outputViews, ...this.st };
  }

  subscribe(listener: (u: StatusUpdate) => void): () => void {
    this.listeners.add(listener);
    // A page connects: the snapshots put off while nobody was connected are encoded now.
    for (const d of this.deferred.splice(0)) if (this.events.includes(d.view)) this.encodeSnapshot(d.view, d.evidence);
    return () => this.listeners.delete(listener);
  }

  /** Pages connected now (SSE streams and other listeners). */
  subscribers(): number {
    return this.listeners.size;
  }

  snapshot(eventId: string): Buffer | undefined {
    return this.snapshots.get(eventId);
  }

  // ---- StatusInputs -------------------------------------------------------------------------------------------

  frame(camera: string, provide: FrameProvider): void {
    this.live.get(camera)?.offer(provide);
  }

  event(camera: string, ev: AnomalyEvent, evidence?: { frame: Frame; geometry?: Geometry }): void {
    const failed = ev.actions.some((a) => a.type === 'event' && a.status === 'failed');
    const view: EventView = {
      id: ev.id,
      ts: ev.ts,
      rule: ev.rule,
      label: ev.label,
      score: ev.score,
      bbox: ev.bbox,
      trackId: ev.trackId,
      frameSeq: ev.frame.seq,
      camera,
      actions: ev.actions,
      delivery: failed ? 'failed' : 'queued',
      snapshot: false,
    };
    this.events.unshift(view);
    for (const old of this.events.splice(this.o.recentEvents ?? 50)) this.snapshots.delete(old.id);
    this.emit({ type: 'event', event: view });
    if (!evidence) return;
    if (this.listeners.size) return this.encodeSnapshot(view, evidence);
    // Nobody connected: no JPEG now (it would cost the device CPU for no one); the pixels of the newest few events
    // are kept (a copy: the loop reuses its buffer) and encoded when a page connects.
    const { release: _release, ...rest } = evidence.frame;
    this.deferred.push({ view, evidence: { frame: { ...rest, data: rest.data.slice() }, ...(evidence.geometry ? { geometry: evidence.geometry } : {}) } });
    if (this.deferred.length > DEFERRED_SNAPSHOTS) this.deferred.shift();
  }

  delivery(eventId: string, state: DeliveryState, detail?: string): void {
    const ev = this.events.find((e) => e.id === eventId);
    if (!ev) return;
    ev.delivery = state;
    if (detail) ev.deliveryDetail = detail;
    this.emit({ type: 'delivery', id: eventId, delivery: state, ...(detail ? { detail } : {}) });
  }

  outboxDepth(depth: number): void {
    if (this.st.outboxDepth === depth) return;
    this.st.outboxDepth = depth;
    this.emit({ type: 'outbox', depth });
  }

  actuation(r: ActuationReport): void {
    const list = this.recent.get(r.output) ?? [];
    list.unshift({ at: new Date(this.clock.wall()).toISOString(), kind: r.kind, reason: r.reason, ...(r.widthMs !== undefined ? { widthMs: r.widthMs } : {}), ...(r.detail ? { detail: r.detail } : {}) });
    list.length = Math.min(list.length, RECENT_ACTUATIONS);
    this.recent.set(r.output, list);
    const view = this.outputViews.find((v) => v.name === r.output);
    if (view) {
      view.recent = list;
      if (r.kind === 'refused') view.refused++;
      if (r.kind === 'missed') view.missed++;
      if (r.kind === 'failed' || r.kind === 'stuck') view.failures++;
    }
    this.emit({ type: 'outputs', outputs: this.outputViews });
  }

  outputs(status: BankStatus): void {
    for (const s of status.outputs) {
      const view = this.outputViews.find((v) => v.name === s.output);
      if (!view) continue;
      Object.assign(view, { driver: s.driver, level: s.level, onTodayMs: s.onTodayMs, actuations: s.actuations, refused: s.refused, missed: s.missed, failures: s.failures });
    }
    this.emit({ type: 'outputs', outputs: this.outputViews });
  }

  doctor(view: DoctorView): void {
    this.st.doctor = view;
    this.emit({ type: 'doctor', doctor: view });
  }

  perf(view: PerfView): void {
    this.st.perf = view;
    this.emit({ type: 'perf', perf: view });
  }

  config(zones: ZoneView[], rules: string[], configHash?: string): void {
    this.st.zones = zones;
    this.st.rules = rules;
    if (configHash !== undefined) this.st.configHash = configHash;
    this.emit({ type: 'config', zones, rules, ...(configHash !== undefined ? { configHash } : {}) });
  }

  async close(): Promise<void> {
    for (const l of this.live.values()) l.close();
    this.listeners.clear();
    this.deferred.length = 0;
    if (this.ownsEncoder) await this.encoder.close();
  }

  private encodeSnapshot(view: EventView, evidence: { frame: Frame; geometry?: Geometry }): void {
    const boxes = [{ box: view.bbox, label: view.label, score: view.score }];
    // The frame's release() is the source's: a function cannot (and must not) travel to the encoder's worker.
    const { release: _release, ...frame } = evidence.frame;
    this.encoder
      .encode(frame, boxes, this.o.snapshotBytes ?? 64_000, evidence.geometry)
      .then((r) => {
        if (!r || !this.events.includes(view)) return;
        this.snapshots.set(view.id, r.jpeg);
        view.snapshot = true;
        this.emit({ type: 'snapshot', id: view.id });
      })
      .catch((err: unknown) => this.log.warn({ err, eventId: view.id }, 'event snapshot could not be encoded'));
  }

  private emit(u: StatusUpdate): void {
    for (const l of [...this.listeners]) {
      try {
        l(u);
      } catch (err) {
        this.listeners.delete(l);
        this.log.warn({ err, update: u.type }, 'a status page listener failed and was dropped');
      }
    }
  }
}
