import { messageOf } from '../../agent/errors.js';
import { referenceOf, type LoadedManifest } from '../../agent/model/manifest.js';
import { belowFloor, DEFAULT_MIN_AGREEMENT } from '../../agent/select/agreement.js';
import { measureAgreement, type MeasuredAgreement } from './measure-agreement.js';
import { benchCachePath, recordAgreement } from '../../agent/select/bench-cache.js';

export interface AgreementRow {
  variant: string;
  reference: string | null;
  agreement: MeasuredAgreement | null;
  /** Why it was not measured, or why it is below the floor. */
  note?: string;
}

/** Where the frames come from: a folder of pictures, or N frames spread over a video file, stream or camera. */
export type AgreementFrames = { dir: string } | { source: string; count: number };

/**
 * `edge-agent bench --frames DIR` or `bench --source URI --frames N`: measures every variant (any runtime the backend
 * registry opens here) that has a reference against it on the user's frames
 * and caches the result (hardware fingerprint + both files' sha256) for selection.
 */
export async function benchAgreements(m: LoadedManifest, o: { frames: AgreementFrames; stateDir: string; fingerprint: string; minAgreement?: number; cache?: boolean }): Promise<AgreementRow[]> {
  const rows: AgreementRow[] = [];
  for (const v of m.variants) {
    const ref = referenceOf(m.variants, v);
    if (!ref) continue;
    try {
      const a = await measureAgreement(m, v, { frames: o.frames, reference: ref.name });
      if (o.cache ?? true) {
        const { variant, sha256, ...spec } = a;
        recordAgreement(benchCachePath(o.stateDir), o.fingerprint, sha256, { ...spec, variant, measuredAt: new Date().toISOString() });
      }
      const low = belowFloor(v.name, a, o.minAgreement ?? DEFAULT_MIN_AGREEMENT);
      rows.push({ variant: v.name, reference: ref.name, agreement: a, ...(low ? { note: `never selected: ${low}` } : {}) });
    } catch (err) {
      rows.push({ variant: v.name, reference: ref.name, agreement: null, note: `not measured: ${messageOf(err)}` });
    }
  }
  return rows;
}

export function formatAgreements(rows: AgreementRow[]): string {
  if (!rows.length) return 'agreement: no variant has a reference to compare with\n';
  const out = ['', 'agreement with the reference on your frames (same label, IoU >= 0.5):', `  ${'variant'.padEnd(22)} ${'reference'.padEnd(18)} agree  recall  prec  score shift  frames`];
  for (const r of rows) {
    const a = r.agreement;
    out.push(
      a
        ? `  ${r.variant.padEnd(22)} ${(r.reference ?? '-').padEnd(18)} ${(a.value * 100).toFixed(1).padStart(5)}  ${(a.recall * 100).toFixed(1).padStart(6)}  ${(a.precision * 100).toFixed(1).padStart(4)}  ${(a.meanScoreShift ?? 0).toFixed(3).padStart(11)}  ${a.frames}${r.note ? `  ${r.note}` : ''}`
        : `  ${r.variant.padEnd(22)} ${(r.reference ?? '-').padEnd(18)} ${r.note ?? ''}`,
    );
  }
  return `${out.join('\n')}\n`;
}
