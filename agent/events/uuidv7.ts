import { randomFillSync } from 'node:crypto';

/**
 * UUID version 7 (RFC 9562 section 5.7): 48-bit Unix milliseconds, version 7, 12 bits of sub-millisecond
 * counter, variant 0b10, 62 random bits. Ids sort by creation time, and the counter (RFC 9562 section 6.2,
 * method 1) keeps them strictly increasing within one generator even for many ids in the same millisecond
 * or when the wall clock steps back. Upstream consumers de-duplicate at-least-once deliveries by this id.
 */
export class UuidV7 {
  private lastMs = -1;
  private counter = 0;

  constructor(
    private readonly wall: () => number = Date.now,
    private readonly random: (buf: Uint8Array) => void = (b) => void randomFillSync(b),
  ) {}

  next(): string {
    let ms = Math.floor(this.wall());
    const rnd = new Uint8Array(10);
    this.random(rnd);
    if (ms <= this.lastMs) {
      ms = this.lastMs;
      this.counter++;
      if (this.counter > 0xfff) {
        // Counter exhausted: borrow the next millisecond (still monotonic, at most a few ms ahead).
        ms++;
        this.counter = rnd[0]! & 0x3ff;
      }
    } else {
      // Seed with a random value in the lower half so many ids fit in the same millisecond.
      this.counter = ((rnd[0]! << 8) | rnd[1]!) & 0x7ff;
    }
    this.lastMs = ms;
    const b = new Uint8Array(16);
    // 48-bit big-endian timestamp (split: JS bit operators are 32-bit).
    const hi = Math.floor(ms / 0x1000000);
    const lo = ms % 0x1000000;
    b[0] = (hi >>> 16) & 0xff;
    b[1] = (hi >>> 8) & 0xff;
    b[2] = hi & 0xff;
    b[3] = (lo >>> 16) & 0xff;
    b[4] = (lo >>> 8) & 0xff;
    b[5] = lo & 0xff;
    b[6] = 0x70 | ((this.counter >>> 8) & 0x0f);
    b[7] = this.counter & 0xff;
    b[8] = 0x80 | (rnd[2]! & 0x3f);
    for (let i = 9; i < 16; i++) b[i] = rnd[i - 6]!;
    const hex = Buffer.from(b).toString('hex');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }
}

const shared = new UuidV7();

/** A new time-ordered event id. */
export function uuidv7(): string {
  return shared.next();
}

/** The Unix milliseconds encoded in a UUIDv7, or undefined for anything else. */
export function uuidv7Time(id: string): number | undefined {
  const m = /^([0-9a-f]{8})-([0-9a-f]{4})-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i.exec(id);
  if (!m) return undefined;
  return parseInt(m[1]! + m[2]!, 16);
}
