/**
 * Local calendar day, minute of the day and weekday of an instant in an IANA time zone (default: the device's,
 * from TZ). Intl does the zone arithmetic, so DST days (23 or 25 hours) and the midnight boundary come out right
 * without any offset maths here.
 */
import type { WaterWindow } from './config.js';

export interface LocalTime {
  /** YYYY-MM-DD in the zone: the budget's day. */
  day: string;
  /** Minutes since local midnight, 0..1439. */
  minute: number;
  weekday: 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';
}

const formats = new Map<string, Intl.DateTimeFormat>();

function format(timeZone: string | undefined): Intl.DateTimeFormat {
  const key = timeZone ?? '';
  let f = formats.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', weekday: 'short' });
    formats.set(key, f);
  }
  return f;
}

export function localTime(ms: number, timeZone?: string): LocalTime {
  const parts: Record<string, string> = {};
  for (const p of format(timeZone).formatToParts(new Date(ms))) parts[p.type] = p.value;
  return {
    day: `${parts.year}-${parts.month}-${parts.day}`,
    minute: Number(parts.hour) * 60 + Number(parts.minute),
    weekday: parts.weekday!.toLowerCase().slice(0, 3) as LocalTime['weekday'],
  };
}

const order = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

function hm(s: string): number {
  const [h, m] = s.split(':').map(Number) as [number, number];
  return h * 60 + m;
}

/** Whether a local time is inside any window (from > to wraps past midnight; `days` name the day a window starts). No windows: always. */
export function inWindows(windows: readonly WaterWindow[] | undefined, t: LocalTime): boolean {
  if (!windows || windows.length === 0) return true;
  const yesterday = order[(order.indexOf(t.weekday) + 6) % 7]!;
  for (const w of windows) {
    const from = hm(w.from);
    const to = hm(w.to);
    if (from < to) {
      if (t.minute >= from && t.minute < to && (!w.days || w.days.includes(t.weekday))) return true;
    } else {
      if (t.minute >= from && (!w.days || w.days.includes(t.weekday))) return true;
      if (t.minute < to && (!w.days || w.days.includes(yesterday))) return true;
    }
  }
  return false;
}
