import { describe, expect, it } from 'vitest';
import { Deadlines } from '../../agent/pipeline/deadlines.js';

const late = (): Error => new Error('late');
const never = (): Promise<never> => new Promise<never>(() => undefined);
const after = <T>(ms: number, v: T): Promise<T> => new Promise((r) => setTimeout(() => r(v), ms));

describe('inference deadlines watched by one timer', () => {
  it('a call that settles in time gives its own result or error and leaves the watch', async () => {
    const d = new Deadlines();
    await expect(d.watch(Promise.resolve(7), 1_000, late)).resolves.toBe(7);
    await expect(d.watch(Promise.reject(new Error('backend failed')), 1_000, late)).rejects.toThrow('backend failed');
    expect(d.size()).toBe(0);
  });

  it('a call that hangs is failed with late() once its time is up; the calls after it still get their own deadlines', async () => {
    const d = new Deadlines();
    const hung = d.watch(never(), 40, late);
    const quick = d.watch(after(5, 'ok'), 40, late);
    const hung2 = d.watch(never(), 120, late); // due later than the armed timer: watched by the re-armed one
    await expect(quick).resolves.toBe('ok');
    await expect(hung).rejects.toThrow('late');
    expect(d.size()).toBe(1); // the later deadline is not failed with the earlier one
    await expect(hung2).rejects.toThrow('late');
    expect(d.size()).toBe(0);
  });

  it('an earlier deadline than the armed one re-arms the timer for it', async () => {
    const d = new Deadlines();
    const slow = d.watch(never(), 10_000, late);
    slow.catch(() => undefined);
    await expect(d.watch(never(), 20, late)).rejects.toThrow('late');
    expect(d.size()).toBe(1); // the long one is still watched
  });
});
