/**
 * Linux GPIO character device, uAPI v2: struct layouts and ioctl numbers as plain data, and pure functions that
 * build/parse the structs in Buffers. No I/O here: the ioctl call itself is in ./syscalls.ts, so tests can check
 * these bytes against the kernel layout and fake only the syscall.
 *
 * Source: include/uapi/linux/gpio.h (torvalds/linux), structs gpiochip_info, gpio_v2_line_attribute,
 * gpio_v2_line_config_attribute, gpio_v2_line_config, gpio_v2_line_request, gpio_v2_line_info,
 * gpio_v2_line_values, and the "v1 and v2 ioctl()s" block. All members are naturally aligned (the header uses
 * __aligned_u64 and explicit padding), so the layout is the same on arm, arm64 and x86_64. Little-endian is
 * assumed (every board we target); see `assertLittleEndian`.
 */
import { endianness } from 'node:os';

export const GPIO_MAX_NAME_SIZE = 32;
export const GPIO_V2_LINES_MAX = 64;
export const GPIO_V2_LINE_NUM_ATTRS_MAX = 10;

/** enum gpio_v2_line_flag (bit numbers from the header). */
export const LineFlag = {
  USED: 1n << 0n,
  ACTIVE_LOW: 1n << 1n,
  INPUT: 1n << 2n,
  OUTPUT: 1n << 3n,
  EDGE_RISING: 1n << 4n,
  EDGE_FALLING: 1n << 5n,
  OPEN_DRAIN: 1n << 6n,
  OPEN_SOURCE: 1n << 7n,
  BIAS_PULL_UP: 1n << 8n,
  BIAS_PULL_DOWN: 1n << 9n,
  BIAS_DISABLED: 1n << 10n,
} as const;

/** enum gpio_v2_line_attr_id. */
export const LineAttrId = { FLAGS: 1, OUTPUT_VALUES: 2, DEBOUNCE: 3 } as const;

/** sizeof() of each struct, derived from the member lists in the header. */
export const Size = {
  gpiochip_info: 32 + 32 + 4, // 68
  gpio_v2_line_attribute: 4 + 4 + 8, // 16: id, padding, union of u64
  gpio_v2_line_config_attribute: 16 + 8, // 24: attr, mask
  gpio_v2_line_config: 8 + 4 + 5 * 4 + GPIO_V2_LINE_NUM_ATTRS_MAX * 24, // 272
  gpio_v2_line_request: GPIO_V2_LINES_MAX * 4 + GPIO_MAX_NAME_SIZE + 272 + 4 + 4 + 5 * 4 + 4, // 592
  gpio_v2_line_info: 32 + 32 + 4 + 4 + 8 + GPIO_V2_LINE_NUM_ATTRS_MAX * 16 + 4 * 4, // 256
  gpio_v2_line_values: 8 + 8, // 16
} as const;

/** Member offsets used by the builders and parsers (bytes from the start of each struct). */
export const Offset = {
  chipinfo: { name: 0, label: 32, lines: 64 },
  config: { flags: 0, num_attrs: 8, padding: 12, attrs: 32 },
  configAttr: { id: 0, padding: 4, value: 8, mask: 16 },
  request: { offsets: 0, consumer: 256, config: 288, num_lines: 560, event_buffer_size: 564, padding: 568, fd: 588 },
  lineinfo: { name: 0, consumer: 32, offset: 64, num_attrs: 68, flags: 72, attrs: 80, padding: 240 },
  values: { bits: 0, mask: 8 },
} as const;

// asm-generic/ioctl.h encoding (used by arm, arm64 and x86): dir << 30 | size << 16 | type << 8 | nr.
const IOC_WRITE = 1;
const IOC_READ = 2;
function ioc(dir: number, type: number, nr: number, size: number): number {
  // >>> 0 keeps the result an unsigned 32-bit number (the top bits are the direction).
  return ((dir << 30) | (size << 16) | (type << 8) | nr) >>> 0;
}
export const _IOR = (type: number, nr: number, size: number): number => ioc(IOC_READ, type, nr, size);
export const _IOWR = (type: number, nr: number, size: number): number => ioc(IOC_READ | IOC_WRITE, type, nr, size);

/** The ioctls we use, computed exactly as the header's macros do (magic 0xB4). */
export const Ioctl = {
  GPIO_GET_CHIPINFO_IOCTL: _IOR(0xb4, 0x01, Size.gpiochip_info),
  GPIO_V2_GET_LINEINFO_IOCTL: _IOWR(0xb4, 0x05, Size.gpio_v2_line_info),
  GPIO_V2_GET_LINE_IOCTL: _IOWR(0xb4, 0x07, Size.gpio_v2_line_request),
  GPIO_V2_LINE_GET_VALUES_IOCTL: _IOWR(0xb4, 0x0e, Size.gpio_v2_line_values),
  GPIO_V2_LINE_SET_VALUES_IOCTL: _IOWR(0xb4, 0x0f, Size.gpio_v2_line_values),
} as const;

export function assertLittleEndian(): void {
  if (endianness() !== 'LE') throw new Error('the GPIO uAPI structs are built little-endian; this CPU is big-endian');
}

function writeCString(buf: Buffer, at: number, max: number, s: string): void {
  // char[max], NUL-terminated: at most max-1 bytes of text (the buffer is already zero-filled).
  const bytes = Buffer.from(s, 'utf8').subarray(0, max - 1);
  bytes.copy(buf, at);
}

function readCString(buf: Buffer, at: number, max: number): string {
  const slice = buf.subarray(at, at + max);
  const nul = slice.indexOf(0);
  return slice.subarray(0, nul < 0 ? max : nul).toString('utf8');
}

export interface ChipInfo {
  name: string;
  label: string;
  lines: number;
}

/** A zeroed struct gpiochip_info for GPIO_GET_CHIPINFO_IOCTL to fill. */
export function chipInfoBuffer(): Buffer {
  return Buffer.alloc(Size.gpiochip_info);
}

export function parseChipInfo(buf: Buffer): ChipInfo {
  return {
    name: readCString(buf, Offset.chipinfo.name, GPIO_MAX_NAME_SIZE),
    label: readCString(buf, Offset.chipinfo.label, GPIO_MAX_NAME_SIZE),
    lines: buf.readUInt32LE(Offset.chipinfo.lines),
  };
}

export interface LineInfo {
  name: string;
  consumer: string;
  offset: number;
  flags: bigint;
}

/** struct gpio_v2_line_info with `offset` filled in and everything else zero (the kernel requires zeroed padding). */
export function lineInfoRequest(offset: number): Buffer {
  const buf = Buffer.alloc(Size.gpio_v2_line_info);
  buf.writeUInt32LE(offset, Offset.lineinfo.offset);
  return buf;
}

export function parseLineInfo(buf: Buffer): LineInfo {
  return {
    name: readCString(buf, Offset.lineinfo.name, GPIO_MAX_NAME_SIZE),
    consumer: readCString(buf, Offset.lineinfo.consumer, GPIO_MAX_NAME_SIZE),
    offset: buf.readUInt32LE(Offset.lineinfo.offset),
    flags: buf.readBigUInt64LE(Offset.lineinfo.flags),
  };
}

export interface OutputLineRequest {
  offset: number;
  consumer: string;
  /** Let the kernel invert the line (GPIO_V2_LINE_FLAG_ACTIVE_LOW): values written are then logical. */
  activeLow: boolean;
  /** Logical value the line takes the moment it is requested (the safe level: false). */
  initialActive: boolean;
}

/**
 * struct gpio_v2_line_request for one output line. The initial value goes in an OUTPUT_VALUES attribute so the
 * line never glitches to the other level between the request and the first write.
 */
export function outputLineRequest(req: OutputLineRequest): Buffer {
  const buf = Buffer.alloc(Size.gpio_v2_line_request);
  const o = Offset.request;
  buf.writeUInt32LE(req.offset, o.offsets);
  writeCString(buf, o.consumer, GPIO_MAX_NAME_SIZE, req.consumer);
  const cfg = o.config;
  let flags = LineFlag.OUTPUT;
  if (req.activeLow) flags |= LineFlag.ACTIVE_LOW;
  buf.writeBigUInt64LE(flags, cfg + Offset.config.flags);
  buf.writeUInt32LE(1, cfg + Offset.config.num_attrs);
  const attr = cfg + Offset.config.attrs; // attrs[0]
  buf.writeUInt32LE(LineAttrId.OUTPUT_VALUES, attr + Offset.configAttr.id);
  buf.writeBigUInt64LE(req.initialActive ? 1n : 0n, attr + Offset.configAttr.value); // bit 0 = offsets[0]
  buf.writeBigUInt64LE(1n, attr + Offset.configAttr.mask); // applies to offsets[0]
  buf.writeUInt32LE(1, o.num_lines);
  return buf;
}

/** The line fd the kernel wrote back into a successful GPIO_V2_GET_LINE_IOCTL request. */
export function requestFd(buf: Buffer): number {
  return buf.readInt32LE(Offset.request.fd);
}

/** struct gpio_v2_line_values setting line 0 of a one-line request to `active`. */
export function lineValues(active: boolean): Buffer {
  const buf = Buffer.alloc(Size.gpio_v2_line_values);
  buf.writeBigUInt64LE(active ? 1n : 0n, Offset.values.bits);
  buf.writeBigUInt64LE(1n, Offset.values.mask);
  return buf;
}

export function parseLineValues(buf: Buffer): { bits: bigint; mask: bigint } {
  return { bits: buf.readBigUInt64LE(Offset.values.bits), mask: buf.readBigUInt64LE(Offset.values.mask) };
}
