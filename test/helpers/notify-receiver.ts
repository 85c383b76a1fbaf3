import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/**
 * A real AF_UNIX datagram receiver, as systemd runs it: SO_PASSCRED set, so the kernel tells us the sender's
 * PID (what NotifyAccess=main checks). A path starting with @ binds in the abstract namespace. The helper
 * process prints one JSON line per datagram: {"data": ..., "pid": ...}.
 */
const RECEIVER = `
import json, socket, struct, sys
addr = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind('\\0' + addr[1:] if addr.startswith('@') else addr)
print(json.dumps({"listening": addr}), flush=True)
while True:
    data, anc, flags, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
    pid = None
    for level, typ, payload in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS:
            pid = struct.unpack('iII', payload[:12])[0]
    print(json.dumps({"data": data.decode(), "pid": pid}), flush=True)
`;

export interface Datagram {
  data: string;
  pid: number | null;
  /** Date.now() when it arrived. */
  at: number;
}

export class NotifyReceiver {
  readonly got: Datagram[] = [];
  private waiters: Array<() => void> = [];
  private constructor(readonly proc: ChildProcess) {}

  static async start(addr: string): Promise<NotifyReceiver> {
    const proc = spawn('/usr/bin/python3', ['-c', RECEIVER, addr], { stdio: ['ignore', 'pipe', 'inherit'] });
    const r = new NotifyReceiver(proc);
    const rl = createInterface({ input: proc.stdout! });
    await new Promise<void>((resolve, reject) => {
      proc.once('error', reject);
      proc.once('exit', (code) => reject(new Error(`receiver exited with ${code}`)));
      rl.on('line', (line) => {
        const msg = JSON.parse(line) as { listening?: string; data: string; pid: number | null };
        if (msg.listening) return resolve();
        r.got.push({ data: msg.data, pid: msg.pid, at: Date.now() });
        r.waiters.splice(0).forEach((w) => w());
      });
    });
    return r;
  }

  async waitFor(n: number, timeoutMs = 3_000): Promise<Datagram[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.got.length < n) {
      if (Date.now() > deadline) throw new Error(`expected ${n} datagrams, got ${JSON.stringify(this.got)}`);
      await new Promise<void>((res) => {
        this.waiters.push(res);
        setTimeout(res, 50);
      });
    }
    return this.got;
  }

  stop(): void {
    this.proc.kill('SIGKILL');
  }
}
