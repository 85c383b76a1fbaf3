/**
 * Voltage to soil moisture, linear between two measured points: the probe's output in dry air (or bone-dry soil)
 * and in water (or saturated soil). Capacitive probes (the common v1.2 boards) read HIGHER when dry, resistive
 * ones lower; the two points carry the direction, so both work. The result is clamped to 0..100 %.
 */
export interface MoistureCalibration {
  /** Millivolts at 0 % (dry). */
  dryMv: number;
  /** Millivolts at 100 % (wet). */
  wetMv: number;
}

export function moisturePercent(mv: number, cal: MoistureCalibration): number {
  const pct = ((mv - cal.dryMv) / (cal.wetMv - cal.dryMv)) * 100;
  return Math.max(0, Math.min(100, pct));
}
