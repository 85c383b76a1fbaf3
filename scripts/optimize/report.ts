import { formatKernels } from './kernels.js';
import type { OptimizeReport, VariantReport } from './optimize.js';

const pct = (x: number | undefined): string => (x === undefined ? '-' : `${(x * 100).toFixed(1)}%`);

function accuracyCell(v: VariantReport): string {
  const a = v.accuracy;
  if (!a) return '-';
  const parts: string[] = [];
  if (a.mAP50 !== undefined) parts.push(`mAP@0.5 ${(a.mAP50 * 100).toFixed(1)}`);
  if (a.agreement && a.agreement.reference === 0) parts.push(a.agreement.candidate ? `fp32 detected nothing, this variant ${a.agreement.candidate}` : 'neither model detected anything on these frames');
  else if (a.agreement) parts.push(`agrees ${pct(a.agreement.recall)} (${a.agreement.matched}/${a.agreement.reference}), box err ${a.agreement.meanBoxErrorPx.toFixed(1)} px`);
  return parts.join(', ');
}

/** The human-readable report: variants table, the worst layers, left-float layers, Edge TPU note. */
export function formatReport(r: OptimizeReport): string {
  const lines: string[] = [];
  lines.push(`model ${r.model}: ${r.calibration.method} calibration on ${r.calibration.frames} frames (${r.calibration.heldOut} held out), ${r.calibration.symmetric ? 'symmetric' : 'asymmetric'} activations, weights ${r.calibration.weightBits}-bit per-channel (CPU: ${r.cpu.instructions}: ${r.cpu.why}); QDQ placement: ${r.calibration.placement}`);
  lines.push('');
  // The summary table: what a person needs to decide.
  const mb = (b: number | undefined): string => (b === undefined ? '-' : `${(b / 1e6).toFixed(2)} MB`);
  lines.push(`${'variant'.padEnd(22)} ${'agreement'.padStart(9)} ${'latency'.padStart(9)} ${'speed-up'.padStart(8)} ${'size'.padStart(9)}  layers left float`);
  lines.push(`${r.source.name.padEnd(22)} ${'(ref)'.padStart(9)} ${`${r.source.latencyMs.toFixed(2)} ms`.padStart(9)} ${'1.00x'.padStart(8)} ${mb(r.source.bytes).padStart(9)}  -`);
  for (const o of r.others) lines.push(`${o.name.padEnd(22)} ${'-'.padStart(9)} ${`${o.latencyMs.toFixed(2)} ms`.padStart(9)} ${`${(r.source.latencyMs / o.latencyMs).toFixed(2)}x`.padStart(8)} ${'-'.padStart(9)}  (existing variant, timed in the same rounds)`);
  for (const v of r.variants) {
    lines.push(`${v.name.padEnd(22)} ${pct(v.agreement?.value).padStart(9)} ${`${v.latencyMs.toFixed(2)} ms`.padStart(9)} ${`${Math.min(r.source.latencyMs / v.latencyMs, r.source.cpuMs! / v.cpuMs!).toFixed(2)}x`.padStart(8)} ${mb(v.bytes).padStart(9)}  ${v.precision === 'int8' ? `${v.floatLayers?.length ?? 0} of ${r.layers.length}` : '-'}`);
  }
  lines.push(`  (speed-up: the lower of the wall-median and CPU-time ratios to ${r.source.name}, 1 thread, this CPU)`);
  lines.push(`  (agreement: min(recall, precision) of the ${r.calibration.heldOut} held-out frames' fp32 detections, same label, IoU >= 0.5; floor ${pct(r.minAgreement)})`);
  if (r.trials.length > 1) lines.push(`  int8 candidates tried: ${r.trials.map((t) => `${t.label} ${pct(t.agreement)}`).join('; ')}`);
  lines.push('');
  lines.push(`${'variant'.padEnd(22)} ${'prec'.padEnd(5)} ${'median ms'.padStart(9)} ${'min'.padStart(6)} ${'cpu'.padStart(6)} ${'vs fp32'.padStart(13)}  accuracy`);
  const row = (name: string, prec: string, l: { latencyMs: number; minMs?: number; cpuMs?: number }, rest: string): string => {
    const ratio = `${(r.source.latencyMs / l.latencyMs).toFixed(2)}x/${(r.source.cpuMs! / l.cpuMs!).toFixed(2)}x`;
    return `${name.padEnd(22)} ${prec.padEnd(5)} ${l.latencyMs.toFixed(2).padStart(9)} ${l.minMs!.toFixed(2).padStart(6)} ${l.cpuMs!.toFixed(2).padStart(6)} ${ratio.padStart(13)}  ${rest}`;
  };
  for (const v of [r.source, ...r.variants]) lines.push(row(v.name, v.precision, v, accuracyCell(v)));
  const int8 = r.variants.filter((v) => v.precision === 'int8');
  lines.push(row('(fp32 after clean-up)', 'fp32', r.preparedFp32, `BN/constants folded${r.splitPools.length ? `, ${r.splitPools.length} max-pool(s) split in two 1-D pools` : ''}; int8 vs this: ${int8.map((v) => `${(r.preparedFp32.latencyMs / v.latencyMs).toFixed(2)}x median, ${(r.preparedFp32.cpuMs / v.cpuMs!).toFixed(2)}x cpu`).join('; ') || '-'}`));
  const accDataset = r.variants[0]?.accuracy?.dataset;
  lines.push(`  (latency: this CPU, ONNX Runtime, 1 thread, after warm-up: wall median, fastest run, median CPU time; ratios median/cpu${accDataset ? `; accuracy on ${accDataset}` : ''})`);
  if (r.layers.length) {
    lines.push('');
    lines.push('per-layer quantisation error, eps = mean((x - Q(x))^2) (SQNR dB; lowest 8 by output):');
    lines.push(`  ${'layer'.padEnd(28)} ${'op'.padEnd(6)} ${'weight eps'.padStart(10)} ${'dB'.padStart(5)} ${'output eps'.padStart(10)} ${'dB'.padStart(5)}`);
    const worst = [...r.layers].sort((a, b) => a.outputSqnrDb - b.outputSqnrDb).slice(0, 8);
    for (const l of worst) {
      lines.push(`  ${l.layer.slice(0, 28).padEnd(28)} ${l.opType.padEnd(6)} ${l.weightEps.toExponential(2).padStart(10)} ${l.weightSqnrDb.toFixed(1).padStart(5)} ${l.outputEps.toExponential(2).padStart(10)} ${l.outputSqnrDb.toFixed(1).padStart(5)}${l.quantised ? '' : `  left float: ${l.reason}`}`);
    }
    lines.push(r.excluded.length ? `left in float (${r.excluded.length}): ${r.excluded.join(', ')}` : `all ${r.layers.length} Conv/Gemm/MatMul layers quantised`);
  }
  if (r.kernels) {
    lines.push('');
    lines.push(...formatKernels(r.kernels));
  }
  lines.push('');
  lines.push(`manifest written: ${r.manifest}`);
  if (r.benchCache) lines.push(`agreement cached for selection on this hardware: ${r.benchCache} (doctor and run use it as measured here)`);
  lines.push('');
  lines.push(r.edgeTpu);
  return lines.join('\n');
}
