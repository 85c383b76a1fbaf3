import { describe, expect, it } from 'vitest';
import { Ioctl, LineFlag, Size, lineInfoRequest, lineValues, outputLineRequest, parseChipInfo, parseLineInfo, requestFd, _IOR, _IOWR } from '../../drivers/gpio/uapi.js';

// Expected figures are written out from include/uapi/linux/gpio.h (torvalds/linux) by hand, not from uapi.ts.
describe('GPIO v2 uAPI layout', () => {
  it('struct sizes match the kernel header', () => {
    expect(Size.gpiochip_info).toBe(68);
    expect(Size.gpio_v2_line_values).toBe(16);
    expect(Size.gpio_v2_line_info).toBe(256);
    expect(Size.gpio_v2_line_config).toBe(272);
    expect(Size.gpio_v2_line_request).toBe(592);
  });

  it('ioctl numbers are what _IOR/_IOWR give on arm, arm64 and x86 (values used by libgpiod users and Go x/sys)', () => {
    expect(Ioctl.GPIO_GET_CHIPINFO_IOCTL).toBe(0x8044b401);
    expect(Ioctl.GPIO_V2_GET_LINEINFO_IOCTL).toBe(0xc100b405);
    expect(Ioctl.GPIO_V2_GET_LINE_IOCTL).toBe(0xc250b407);
    expect(Ioctl.GPIO_V2_LINE_GET_VALUES_IOCTL).toBe(0xc010b40e);
    expect(Ioctl.GPIO_V2_LINE_SET_VALUES_IOCTL).toBe(0xc010b40f);
    // and the macros themselves, on a number from the v1 block: GPIO_GET_LINEINFO_UNWATCH_IOCTL _IOWR(0xB4, 0x0C, __u32)
    expect(_IOWR(0xb4, 0x0c, 4)).toBe(0xc004b40c);
    expect(_IOR(0xb4, 0x01, 68)).toBe(0x8044b401);
  });

  it('builds gpio_v2_line_request byte for byte (output, active-low, initial inactive)', () => {
    const got = outputLineRequest({ offset: 17, consumer: 'edge-agent:gate', activeLow: true, initialActive: false });
    const want = Buffer.alloc(592);
    want.writeUInt32LE(17, 0); // offsets[0]
    Buffer.from('edge-agent:gate').copy(want, 256); // consumer[32]
    want.writeBigUInt64LE(0x8n | 0x2n, 288); // config.flags = OUTPUT | ACTIVE_LOW
    want.writeUInt32LE(1, 288 + 8); // config.num_attrs
    // config.padding[5] at 288+12 stays zero; attrs[0] at 288+32: id, padding, union, mask
    want.writeUInt32LE(2, 320); // GPIO_V2_LINE_ATTR_ID_OUTPUT_VALUES
    want.writeBigUInt64LE(0n, 328); // values: line 0 inactive
    want.writeBigUInt64LE(1n, 336); // mask: offsets[0]
    want.writeUInt32LE(1, 560); // num_lines
    // event_buffer_size 564, padding 568..588 and fd 588 stay zero
    expect(got.length).toBe(592);
    expect(got.equals(want)).toBe(true);
  });

  it('builds the active-high, initially active variant and reads back the fd the kernel writes', () => {
    const got = outputLineRequest({ offset: 63, consumer: 'x'.repeat(40), activeLow: false, initialActive: true });
    expect(got.readBigUInt64LE(288)).toBe(LineFlag.OUTPUT);
    expect(got.readBigUInt64LE(328)).toBe(1n);
    // consumer is truncated to 31 bytes and NUL-terminated
    expect(got.subarray(256, 288).toString('latin1')).toBe(`${'x'.repeat(31)}\0`);
    got.writeInt32LE(57, 588);
    expect(requestFd(got)).toBe(57);
  });

  it('builds gpio_v2_line_values and gpio_v2_line_info requests', () => {
    expect([...lineValues(true)]).toEqual([1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
    expect([...lineValues(false)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
    const li = lineInfoRequest(17);
    expect(li.length).toBe(256);
    expect(li.readUInt32LE(64)).toBe(17);
    expect(li.subarray(0, 64).every((b) => b === 0) && li.subarray(68).every((b) => b === 0)).toBe(true);
  });

  it('parses gpiochip_info and gpio_v2_line_info as the kernel fills them', () => {
    const ci = Buffer.alloc(68);
    ci.write('gpiochip0', 0);
    ci.write('pinctrl-bcm2711', 32);
    ci.writeUInt32LE(58, 64);
    expect(parseChipInfo(ci)).toEqual({ name: 'gpiochip0', label: 'pinctrl-bcm2711', lines: 58 });
    const li = Buffer.alloc(256);
    li.write('GPIO17', 0);
    li.write('edge-agent:gate', 32);
    li.writeUInt32LE(17, 64);
    li.writeBigUInt64LE(0x9n, 72);
    expect(parseLineInfo(li)).toEqual({ name: 'GPIO17', consumer: 'edge-agent:gate', offset: 17, flags: 0x9n });
  });
});
