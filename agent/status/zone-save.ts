/**
 * Saving a zone from the page: edit rules[i].zone in the config file (comments and layout kept), check the
 * result exactly as `check-config` does, write it atomically, then apply it as SIGHUP does. Optimistic
 * concurrency: the request names the sha256 of the config file its page showed; a file changed since (another
 * operator saved, someone edited it) is refused, nothing written. Saves in this process run one at a time.
 */
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parseDocument } from 'yaml';
import type { Logger } from '../log.js';
import { messageOf } from '../errors.js';
import { checkConfigFile, checkConfigText } from '../config/load.js';
import { formatProblem } from '../config/issues.js';
import { polygonProblem } from '../rules/zone.js';
import type { ActionResult, ZoneRequest, ZoneView } from './source.js';

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Zones and rule names of a config file, and its hash (what the page shows and a save must name). */
export function readZones(file: string): { zones: ZoneView[]; rules: string[]; configHash: string } {
  const text = readFileSync(file, 'utf8');
  const res = checkConfigText(text);
  const rules = res.config?.rules ?? [];
  return {
    zones: rules.flatMap((r) => (r.zone ? [{ rule: r.name, polygon: r.zone.polygon as Array<[number, number]>, test: r.zone.test }] : [])),
    rules: rules.map((r) => r.name),
    configHash: sha256(text),
  };
}

export interface ZoneSaverOptions {
  /** The config file the agent runs from. */
  file: string;
  /** Applies the saved file as SIGHUP does (Agent.reload()). */
  reload: () => { applied: boolean; message: string } | Promise<{ applied: boolean; message: string }>;
  /** Told about the new zones after a save (feed.config). */
  saved?: (z: ReturnType<typeof readZones>) => void;
  log: Logger;
}

export class ZoneSaver {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: ZoneSaverOptions) {}

  save(req: ZoneRequest): Promise<ActionResult> {
    const run = this.queue.then(() => this.saveNow(req));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async saveNow(req: ZoneRequest): Promise<ActionResult> {
    const refuse = (status: number, message: string): ActionResult => {
      this.o.log.warn({ operator: req.operator, rule: req.rule }, `zone not saved: ${message}`);
      return { ok: false, status, message };
    };
    const shape = polygonShapeProblem(req.polygon);
    if (shape) return refuse(400, shape);
    if (req.test !== 'center' && req.test !== 'box') return refuse(400, `zone test must be "center" or "box", not "${String(req.test)}"`);
    let text: string;
    try {
      text = readFileSync(this.o.file, 'utf8');
    } catch (err) {
      return refuse(500, `cannot read the config file ${this.o.file} (${messageOf(err)})`);
    }
    if (sha256(text) !== req.configHash) {
      return refuse(409, `the config file changed since this page loaded it (another operator saved, or it was edited): nothing was written; reload the page and draw the zone again`);
    }
    const doc = parseDocument(text);
    const rules = doc.getIn(['rules']) as { items?: unknown[] } | undefined;
    const index = (doc.toJS() as { rules?: Array<{ name?: string }> }).rules?.findIndex((r) => r?.name === req.rule) ?? -1;
    if (!rules || index < 0) return refuse(404, `no rule named "${req.rule}" in ${this.o.file}`);
    const zone = doc.createNode({ polygon: req.polygon.map(([x, y]) => [round(x), round(y)]), test: req.test });
    // Flow style for the points: one line per zone, as people write them by hand.
    const poly = (zone as unknown as { get(k: string): { flow: boolean; items: Array<{ flow: boolean }> } }).get('polygon');
    poly.flow = true;
    doc.setIn(['rules', index, 'zone'], zone);
    const next = doc.toString();

    // Checked in the config's own folder, so its relative paths (model, clip) resolve as they will when loaded.
    const tmp = join(dirname(this.o.file), `.${basename(this.o.file)}.status-${process.pid}.tmp`);
    try {
      writeFileSync(tmp, next, { mode: 0o640 });
      const check = await checkConfigFile(tmp);
      if (!check.ok) {
        rmSync(tmp, { force: true });
        return refuse(422, `the config with this zone is not valid, nothing was written: ${check.problems.map((p) => formatProblem(this.o.file, p)).join('; ')}`);
      }
      // Last look just before the rename: an edit made while checking still wins over this save.
      if (sha256(readFileSync(this.o.file, 'utf8')) !== req.configHash) {
        rmSync(tmp, { force: true });
        return refuse(409, 'the config file changed while this zone was being checked: nothing was written; reload the page and try again');
      }
      renameSync(tmp, this.o.file);
    } catch (err) {
      rmSync(tmp, { force: true });
      return refuse(500, `cannot write the config file ${this.o.file} (${messageOf(err)})`);
    }
    const reloaded = await this.o.reload();
    const now = readZones(this.o.file);
    this.o.saved?.(now);
    this.o.log.info({ operator: req.operator, rule: req.rule, polygon: req.polygon, reload: reloaded.message }, `zone of rule ${req.rule} saved to ${this.o.file}`);
    return { ok: true, message: `zone of rule ${req.rule} saved; ${reloaded.message}`, configHash: now.configHash };
  }
}

/** At least 3 points, each inside the picture (0..1), edges not crossing. */
export function polygonShapeProblem(polygon: unknown): string | undefined {
  if (!Array.isArray(polygon) || polygon.length < 3) return `a zone needs at least 3 points (got ${Array.isArray(polygon) ? polygon.length : 'none'}): click at least 3 corners on the picture`;
  for (const [i, p] of polygon.entries()) {
    if (!Array.isArray(p) || p.length !== 2 || !p.every((v) => typeof v === 'number' && Number.isFinite(v))) return `point ${i} is not [x, y]`;
    if (p.some((v: number) => v < 0 || v > 1)) return `point ${i} (${p.join(', ')}) is outside the picture: coordinates go from 0 to 1`;
  }
  return polygonProblem(polygon as Array<[number, number]>);
}

function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}
