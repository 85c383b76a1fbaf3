import { z } from 'zod';
import { sourceSchema, type SourceConfig } from './source.js';
import { ruleSchema, type RuleConfig } from './rules.js';
import { modelConfigSchema } from './model.js';
import type { OutputConfig } from './outputs.js';

const nameSchema = z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, dash or underscore (it becomes an MQTT topic level and a metrics label)');

const cameraFields = {
  source: sourceSchema,
  /** The model this camera's frames go to: "default" (the `model:` section) or a name under `models:`. Cameras naming one model share one model host. */
  model: z.string().min(1).default('default'),
  /** This camera's rules (their zones are in this camera's picture); default: the top-level `rules:`. */
  rules: z.array(ruleSchema).optional(),
  /** Outputs this camera may drive besides those its rules name (an output two cameras use needs `shared: true`). */
  outputs: z.array(z.string().min(1)).optional(),
};

/** One camera in the list form (`- name: gate ...`). */
export const namedCameraSchema = z.object({ name: nameSchema, ...cameraFields }).strict();
/** One camera in the map form (`gate: {source: ...}`). */
export const cameraSchema = z.object(cameraFields).strict();

/** `cameras:` as a list of named cameras or a map of name to camera. */
export const camerasSchema = z.union([z.array(namedCameraSchema).min(1, 'list at least one camera'), z.record(nameSchema, cameraSchema)]);

/** Extra models by name (`model:` is the one named "default"). */
export const modelsSchema = z.record(nameSchema, modelConfigSchema);

export type CamerasConfig = z.infer<typeof camerasSchema>;

/** One camera as the agent runs it. */
export interface CameraSpec {
  name: string;
  source: SourceConfig;
  model: string;
  rules: RuleConfig[];
  outputs: string[];
}

interface CameraInput {
  source?: SourceConfig;
  cameras?: CamerasConfig;
  rules: RuleConfig[];
}

/** The name the single `source:` form's camera has. */
export const DEFAULT_CAMERA = 'default';

/** Every camera of a config: the `cameras:` entries, or the single `source:` as camera "default". */
export function cameraSpecs(cfg: CameraInput): CameraSpec[] {
  const list = entries(cfg);
  if (!list.length && cfg.source) return [{ name: DEFAULT_CAMERA, source: cfg.source, model: 'default', rules: cfg.rules, outputs: outputsNamed(cfg.rules) }];
  return list.map(({ name, cam }) => {
    const rules = cam.rules ?? cfg.rules;
    return { name, source: cam.source, model: cam.model, rules, outputs: [...new Set([...(cam.outputs ?? []), ...outputsNamed(rules)])] };
  });
}

function entries(cfg: CameraInput): Array<{ name: string; cam: z.infer<typeof cameraSchema>; path: Array<string | number> }> {
  const c = cfg.cameras;
  if (!c) return [];
  if (Array.isArray(c)) return c.map((cam, i) => ({ name: cam.name, cam, path: ['cameras', i] }));
  return Object.entries(c).map(([name, cam]) => ({ name, cam, path: ['cameras', name] }));
}

function outputsNamed(rules: RuleConfig[]): string[] {
  return [...new Set(rules.flatMap((r) => r.actions.flatMap((a) => (a.type === 'pulse' || a.type === 'hold' ? [a.output] : []))))];
}

/** The pulses and holds of `rules` against the outputs configured: each must exist and fit its maxOnMs. */
export function ruleOutputIssues(rules: RuleConfig[], outputs: Record<string, OutputConfig>, ctx: z.RefinementCtx, at: Array<string | number>): void {
  const names = new Set<string>();
  rules.forEach((r, i) => {
    if (names.has(r.name)) ctx.addIssue({ code: 'custom', path: [...at, i, 'name'], message: `duplicate rule name "${r.name}"` });
    names.add(r.name);
    r.actions.forEach((a, j) => {
      if (a.type === 'event') return;
      const out = outputs[a.output];
      if (!out) {
        ctx.addIssue({ code: 'custom', path: [...at, i, 'actions', j, 'output'], message: `no output named "${a.output}" (configured: ${Object.keys(outputs).join(', ') || 'none'})` });
        return;
      }
      if (a.type === 'pulse' && a.widthMs > out.maxOnMs) {
        ctx.addIssue({ code: 'custom', path: [...at, i, 'actions', j, 'widthMs'], message: `pulse of ${a.widthMs} ms is longer than output "${a.output}" allows (maxOnMs ${out.maxOnMs})` });
      }
      if (a.type === 'hold' && a.durationMs > out.maxOnMs) {
        ctx.addIssue({ code: 'custom', path: [...at, i, 'actions', j, 'durationMs'], message: `hold of ${a.durationMs} ms is longer than output "${a.output}" allows (maxOnMs ${out.maxOnMs})` });
      }
    });
  });
}

/**
 * `source:` or `cameras:` (one of them); camera names unique; each camera's model configured; each camera's rules
 * naming outputs that exist; an output two cameras use marked `shared: true` (else one camera's rule could hold
 * the gate another camera's rule needs, and neither would know).
 */
export function cameraIssues(cfg: CameraInput & { models?: Record<string, unknown>; outputs: Record<string, OutputConfig & { shared?: boolean }> }, ctx: z.RefinementCtx): void {
  if (!cfg.source && !cfg.cameras) {
    ctx.addIssue({ code: 'custom', path: ['source'], message: 'no camera: give `source:` (one camera) or `cameras:` (several)' });
    return;
  }
  if (cfg.source && cfg.cameras) {
    ctx.addIssue({ code: 'custom', path: ['cameras'], message: 'both `source:` and `cameras:` are given: move `source:` into a camera under `cameras:`' });
    return;
  }
  const seen = new Map<string, string>();
  const usedBy = new Map<string, string>();
  const models = ['default', ...Object.keys(cfg.models ?? {})];
  for (const { name, cam, path } of entries(cfg)) {
    if (seen.has(name)) ctx.addIssue({ code: 'custom', path: [...path, 'name'], message: `duplicate camera name "${name}" (also ${seen.get(name)}): give each camera its own name` });
    else seen.set(name, typeof path[1] === 'number' ? `cameras[${path[1]}]` : `cameras.${path[1]}`);
    if (!models.includes(cam.model)) ctx.addIssue({ code: 'custom', path: [...path, 'model'], message: `no model named "${cam.model}" (configured: ${models.join(', ')}): add it under \`models:\` or name one of those` });
    if (cam.rules) ruleOutputIssues(cam.rules, cfg.outputs, ctx, [...path, 'rules']);
    (cam.outputs ?? []).forEach((o, i) => {
      if (!(o in cfg.outputs)) ctx.addIssue({ code: 'custom', path: [...path, 'outputs', i], message: `no output named "${o}" (configured: ${Object.keys(cfg.outputs).join(', ') || 'none'})` });
    });
    const uses = new Set([...(cam.outputs ?? []), ...outputsNamed(cam.rules ?? cfg.rules)]);
    for (const o of uses) {
      const other = usedBy.get(o);
      if (other !== undefined && other !== name && cfg.outputs[o] && !cfg.outputs[o].shared) {
        ctx.addIssue({ code: 'custom', path: [...path, ...(cam.rules ? ['rules'] : cam.outputs?.includes(o) ? ['outputs'] : [])], message: `output "${o}" is used by cameras "${other}" and "${name}": set \`shared: true\` on outputs.${o} if both may drive it, or give each camera its own output` });
      }
      if (other === undefined) usedBy.set(o, name);
    }
  }
}
