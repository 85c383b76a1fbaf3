/**
 * Turns the last lines a capture tool printed into one sentence an operator can act on.
 * The patterns are the messages ffmpeg, GStreamer and rpicam-apps print for these cases (errno strings from
 * strerror(3), HTTP/RTSP status lines as the servers send them); unknown output is passed through.
 */
const known: Array<[RegExp, (m: RegExpExecArray) => string]> = [
  [/No such file or directory/i, () => 'the device or file does not exist (camera unplugged or wrong path?)'],
  [/Device or resource busy/i, () => 'the device is busy: another program is using the camera'],
  [/Permission denied/i, () => 'permission denied: add the service user to the video group'],
  [/(\d{3}) (Not Found|Unauthorized|Forbidden|Service Unavailable|Bad Request)/i, (m) => `the server answered ${m[1]} ${m[2]}${m[1] === '401' ? ': check the user and password in the URL' : m[1] === '404' ? ': check the stream path in the URL' : ''}`],
  [/Connection refused/i, () => 'connection refused: nothing is listening at that address and port'],
  [/Connection timed out|timed out|Operation timed out/i, () => 'the connection timed out: the camera or network is down'],
  [/Network is unreachable|No route to host/i, () => 'the network is unreachable'],
  [/Invalid data found when processing input|could not find codec parameters|moov atom not found/i, () => 'the input is not a video ffmpeg can decode'],
  [/no element "([^"]+)"/i, (m) => `GStreamer has no element "${m[1]}": install the plugin that provides it or fix the pipeline`],
  [/erroneous pipeline/i, () => 'the GStreamer pipeline string is invalid'],
  [/no cameras available/i, () => 'libcamera found no camera: check the ribbon cable and camera_auto_detect in config.txt'],
  [/Failed to create capture session|nvargus.*(error|fail)/i, () => 'nvargus-daemon could not open the sensor: check the CSI cable, sensor-id, and restart nvargus-daemon'],
];

export function explainFailure(lines: readonly string[]): string | undefined {
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    for (const [re, say] of known) {
      const m = re.exec(line);
      if (m) return say(m);
    }
  }
  return undefined;
}

/**
 * Lines ffmpeg prints (at -loglevel error) when the input itself is damaged or cut short while it still decodes
 * what it can: the demuxers' "File ended prematurely" (Matroska), "partial file" / "Packet corrupt" (MP4),
 * "corrupt input packet", the H.264/HEVC parsers' "Invalid NAL unit size" / "Error splitting the input into NAL
 * units", MPEG decoders' "... damaged at x y", and the generic "Error while decoding stream". ffmpeg then skips or
 * pads the damaged part and exits 0, so the source counts these instead of accepting the input as whole.
 */
const damage = /File ended prematurely|partial file|Packet corrupt|corrupt input packet|Invalid NAL unit size|Error splitting the input into NAL units|Error while decoding stream|damaged at \d+ \d+|concealing \d+ (DC|AC|MV) errors|Truncating packet|invalid frame size|missing picture in access unit/i;

/** Whether a decoder's stderr line says the input is damaged or truncated (see above). */
export function isInputDamage(line: string): boolean {
  return damage.test(line);
}
