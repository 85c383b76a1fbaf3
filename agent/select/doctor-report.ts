import type { Capabilities, HardwareProfile, Usability } from './hardware.js';
import type { SelectionConfig, SelectionResult } from './select.js';

/** Everything `edge-agent doctor` found, as one object (its --json output). */
export interface DoctorReport {
  root: string;
  board: HardwareProfile['board'];
  cpu: HardwareProfile['cpu'];
  memory: HardwareProfile['memory'];
  thermal: HardwareProfile['thermal'];
  accelerators: HardwareProfile['accelerators'];
  capabilities: Capabilities;
  fingerprint: string;
  model: { name: string; path: string } | null;
  selection: SelectionConfig;
  variants: SelectionResult['variants'];
  selected: string | null;
  fallbacks: string[];
  summary: string;
  /** Video devices found (/dev/videoN) with their names and the source settings to use. */
  cameras?: Array<{ device: string; name: string | undefined; suggested?: { pixelFormat: string; width: number; height: number; fps: number }; note?: string }>;
  problems: string[];
}

const yesNo = (u: Usability): string => (u.usable ? 'yes' : `no: ${u.reason ?? 'not usable'}`);

/** The readable text form of a doctor report. */
export function formatDoctorReport(r: DoctorReport): string {
  const out: string[] = [];
  const b = r.board;
  const boardBits = [b.family, b.boardClass, b.soc, b.revision ? `rev ${b.revision}` : undefined, b.l4t ? `L4T ${b.l4t}` : undefined, b.jetpack ? `JetPack ${b.jetpack}` : undefined].filter(Boolean);
  out.push(`Hardware${r.root === '/' ? '' : ` (sysroot ${r.root})`}`);
  out.push(`  board         ${b.model}  [${boardBits.join(', ')}]`);
  out.push(`  cpu           ${r.cpu.modelName} x${r.cpu.cores} (${r.cpu.arch})  features: ${r.cpu.features.join(' ') || 'none found'}`);
  out.push(`  memory        ${r.memory.totalMB ?? '?'} MB total, ${r.memory.availableMB ?? '?'} MB available`);
  const zones = r.thermal.zones.map((z) => `${z.type} ${z.tempC ?? '?'} °C`).join(', ');
  out.push(`  thermal       ${zones || 'no thermal zones'}`);
  if (r.thermal.throttled) {
    out.push(`  throttled     0x${r.thermal.throttled.raw.toString(16)} (${r.thermal.throttled.source}): ${r.thermal.throttled.active.join(', ') || 'none'}`);
  }
  if (r.thermal.underVoltageAlarm !== undefined) out.push(`  power         ${r.thermal.underVoltageAlarm ? 'UNDER-VOLTAGE alarm (rpi_volt): use a stronger power supply' : 'supply voltage OK (rpi_volt)'}`);
  out.push('  accelerators');
  for (const a of r.accelerators) {
    const bits = [a.bus ?? 'on-chip', a.id, a.usbSpeedMbps !== undefined ? `${a.usbSpeedMbps} Mb/s` : undefined, a.state, a.tempC !== undefined ? `${a.tempC} °C` : undefined, a.device];
    const libs = a.libraries ? Object.entries(a.libraries).map(([k, v]) => `${k} ${v}`).join(', ') : '';
    out.push(`    - ${a.kind.padEnd(8)} ${a.name}  [${bits.filter(Boolean).join(', ')}]${libs ? `  libraries: ${libs}` : ''}`);
    for (const w of a.warnings) out.push(`        warning: ${w}`);
  }
  const c = r.capabilities;
  out.push('', 'Runtimes and accelerators usable here');
  out.push(`  onnxruntime   ${c.onnxruntime.usable ? `yes (${c.onnxruntime.detail ?? `onnxruntime-node ${c.onnxruntime.version}`})` : `no: ${c.onnxruntime.reason}`}`);
  for (const ep of ['cpu', 'cuda', 'tensorrt'] as const) out.push(`    provider ${ep.padEnd(9)} ${yesNo(c.onnxruntime.providers[ep])}`);
  out.push(`  tflite        ${c.tflite.usable ? `yes (TFLite ${c.tflite.version ?? '?'}, ${c.tflite.library})` : `no: ${c.tflite.reason}`}`);
  out.push(`  libedgetpu    ${c.edgetpuLibrary.usable ? `yes (${c.edgetpuLibrary.library})` : `no: ${c.edgetpuLibrary.reason}`}`);
  for (const k of ['cpu', 'cuda', 'tensorrt', 'edgetpu'] as const) out.push(`  ${k.padEnd(13)} ${c.accelerators[k].usable ? `yes (${c.accelerators[k].detail ?? ''})` : `no: ${c.accelerators[k].reason}`}`);
  for (const n of c.notes) out.push(`  note: ${n}`);
  out.push('');
  if (!r.model) {
    out.push('Model: none loaded (give --model path/to/manifest.json)');
  } else {
    const s = r.selection;
    out.push(`Model ${r.model.name} (${r.model.path})`);
    out.push(`  utility U = ${s.alpha}*mAP50 - ${s.beta}*latency_ms; latency budget ${s.latencyBudgetMs !== undefined ? `${s.latencyBudgetMs} ms` : 'none'}; hardware fingerprint ${r.fingerprint}`);
    for (const v of r.variants) {
      const mark = v.name === r.selected ? '*' : v.eligible ? '+' : '-';
      const score = v.score === null ? '     -' : v.score.toFixed(1).padStart(6);
      const lat = v.latencyMs === null ? '      -' : `${v.latencyMs.toFixed(1).padStart(6)} ms`;
      out.push(`  ${mark} ${v.name.padEnd(22)} ${`${v.runtime}/${v.accelerator}`.padEnd(22)} U ${score}  ${lat}  ${v.reason}`);
    }
    out.push(`  (* selected, + runnable fallback, - cannot run here)`);
    out.push('', r.selected ? `Selected: ${r.summary}${r.fallbacks.length ? `; fallbacks in order: ${r.fallbacks.join(', ')}` : ''}` : `Selected: none. ${r.summary}`);
  }
  if (r.problems.length) {
    out.push('', 'Problems');
    for (const p of r.problems) out.push(`  - ${p}`);
  }
  if (r.cameras) {
    out.push('', 'Cameras');
    if (r.cameras.length === 0) out.push('  none (/dev/video*): a file, RTSP stream or CSI camera source can still be used');
    for (const c of r.cameras) {
      const how = c.suggested ? `use type v4l2, pixelFormat ${c.suggested.pixelFormat}, ${c.suggested.width}x${c.suggested.height} @ ${c.suggested.fps} fps` : (c.note ?? 'formats unknown');
      out.push(`  ${c.device}  ${c.name ?? ''}: ${how}`);
    }
  }
  return `${out.join('\n')}\n`;
}
