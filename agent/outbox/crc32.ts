import * as zlib from 'node:zlib';

/**
 * CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), the checksum zlib and PNG use.
 * zlib.crc32 exists from Node 20.15 / 22.2; older Node 20 releases use the table-driven version below.
 */
const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** Portable CRC-32 of `buf`. */
export function crc32Js(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i++) c = TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const native = (zlib as unknown as { crc32?: (data: Uint8Array) => number }).crc32;

/** CRC-32 of `buf`: native zlib when available, else the table version (same result). */
export const crc32: (buf: Uint8Array) => number = native ? (buf) => native(buf) >>> 0 : crc32Js;
