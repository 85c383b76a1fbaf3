import type { z } from 'zod';
import type { scheduleWindowSchema } from '../config/sections/rules.js';

export type ScheduleWindow = z.infer<typeof scheduleWindowSchema>;

const dayNames = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

function minutes(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number) as [number, number];
  return h * 60 + m;
}

/**
 * Whether a wall-clock time falls in any of the windows, in the device's local time zone (TZ).
 * A window with from > to wraps past midnight (22:00-02:00); its `days` name the day it starts on.
 * No windows means always.
 */
export function inSchedule(windows: readonly ScheduleWindow[] | undefined, wallMs: number): boolean {
  if (!windows || windows.length === 0) return true;
  const d = new Date(wallMs);
  const now = d.getHours() * 60 + d.getMinutes();
  const today = dayNames[d.getDay()]!;
  const yesterday = dayNames[(d.getDay() + 6) % 7]!;
  for (const w of windows) {
    const from = minutes(w.from);
    const to = minutes(w.to);
    if (from === to) {
      if (!w.days || w.days.includes(today)) return true;
    } else if (from < to) {
      if (now >= from && now < to && (!w.days || w.days.includes(today))) return true;
    } else {
      if (now >= from && (!w.days || w.days.includes(today))) return true;
      if (now < to && (!w.days || w.days.includes(yesterday))) return true;
    }
  }
  return false;
}
