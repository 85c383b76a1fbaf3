/**
 * The datagram half of the sd_notify protocol: one AF_UNIX SOCK_DGRAM socket, one sendto() per message.
 *
 * Why koffi + libc and not the alternatives:
 * - Node's `dgram` module only speaks UDP; `net` only stream sockets. Unix datagram sockets need a syscall.
 * - Spawning `systemd-notify` would send from the child's PID; with `NotifyAccess=main` systemd drops every
 *   message not sent by the main PID (systemd.exec(5) NotifyAccess=), so READY=1 would never arrive.
 * - libsystemd's `sd_notify()` through koffi would work too, but it opens and closes a socket per call, and
 *   libsystemd0 is not guaranteed inside minimal containers that still pass NOTIFY_SOCKET (podman, musl images).
 *   libc's socket()/sendto() are everywhere, and keeping one socket open makes each watchdog ping one syscall.
 *
 * Protocol facts (sd_notify(3)): NOTIFY_SOCKET is a filesystem path ("/run/systemd/notify") or an abstract
 * socket name written with a leading "@" (the "@" stands for the NUL byte). The message is newline-separated
 * KEY=VALUE assignments. The kernel attaches our credentials (SCM_CREDENTIALS) because the receiver sets
 * SO_PASSCRED, which is how systemd checks the sender is the main PID.
 */
import koffi from 'koffi';

/** Sends one datagram to the notify socket; returns an error text on failure (never throws). */
export interface NotifyTransport {
  send(message: string): string | undefined;
  close(): void;
}

// Linux ABI constants, identical on x86_64, aarch64 and armv7l (include/linux/socket.h, include/linux/net.h,
// asm-generic/fcntl.h O_CLOEXEC = 02000000 octal on these arches).
const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const MSG_NOSIGNAL = 0x4000;
/** struct sockaddr_un { sa_family_t sun_family (u16); char sun_path[108]; } (include/uapi/linux/un.h). */
const SUN_PATH_OFFSET = 2;
const SUN_PATH_MAX = 108;

interface Libc {
  socket: (domain: number, type: number, protocol: number) => number;
  sendto: (fd: number, buf: Buffer, len: number, flags: number, addr: Buffer, addrlen: number) => number | bigint;
  close: (fd: number) => number;
}

let libc: Libc | undefined;

function loadLibc(): Libc {
  if (libc) return libc;
  // glibc names itself libc.so.6; musl's loader answers to libc.so (Alpine).
  let lib: ReturnType<typeof koffi.load> | undefined;
  let lastErr: unknown;
  for (const name of ['libc.so.6', 'libc.so']) {
    try {
      lib = koffi.load(name);
      break;
    } catch (err) {
      lastErr = err;
    }
  }
  if (!lib) throw lastErr instanceof Error ? lastErr : new Error(String(lastErr));
  libc = {
    socket: lib.func('int socket(int domain, int type, int protocol)') as Libc['socket'],
    sendto: lib.func('intptr_t sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t addrlen)') as Libc['sendto'],
    close: lib.func('int close(int fd)') as Libc['close'],
  };
  return libc;
}

/** Encodes NOTIFY_SOCKET into a struct sockaddr_un and its length, or throws a readable Error. */
export function encodeSockaddr(notifySocket: string): { addr: Buffer; len: number } {
  const abstract = notifySocket.startsWith('@');
  if (!abstract && !notifySocket.startsWith('/')) {
    throw new Error(`NOTIFY_SOCKET="${notifySocket}" is neither a path nor an @abstract name (vsock is not supported)`);
  }
  const name = Buffer.from(abstract ? notifySocket.slice(1) : notifySocket, 'utf8');
  // A path needs room for its terminating NUL; an abstract name is length-delimited and starts with a NUL.
  if (name.length + 1 > SUN_PATH_MAX) throw new Error(`NOTIFY_SOCKET is longer than ${SUN_PATH_MAX - 1} bytes`);
  const addr = Buffer.alloc(SUN_PATH_OFFSET + SUN_PATH_MAX);
  addr.writeUInt16LE(AF_UNIX, 0); // sa_family_t is host-endian; every supported arch is little-endian
  if (abstract) {
    name.copy(addr, SUN_PATH_OFFSET + 1);
    return { addr, len: SUN_PATH_OFFSET + 1 + name.length };
  }
  name.copy(addr, SUN_PATH_OFFSET);
  return { addr, len: SUN_PATH_OFFSET + name.length + 1 };
}

/** Opens the datagram socket lazily; a failed send is reported, and the next send tries again. */
export class UnixDatagramTransport implements NotifyTransport {
  private readonly target: { addr: Buffer; len: number };
  private fd = -1;

  constructor(notifySocket: string) {
    this.target = encodeSockaddr(notifySocket);
  }

  send(message: string): string | undefined {
    let c: Libc;
    try {
      c = loadLibc();
    } catch (err) {
      return `cannot load libc through koffi: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (this.fd < 0) {
      this.fd = c.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      if (this.fd < 0) return `socket(AF_UNIX, SOCK_DGRAM) failed: errno ${koffi.errno()}`;
    }
    const buf = Buffer.from(message, 'utf8');
    const n = Number(c.sendto(this.fd, buf, buf.length, MSG_NOSIGNAL, this.target.addr, this.target.len));
    if (n < 0) {
      const errno = koffi.errno();
      return `sendto(NOTIFY_SOCKET) failed: errno ${errno}${errnoName(errno)}`;
    }
    return undefined;
  }

  close(): void {
    if (this.fd >= 0 && libc) libc.close(this.fd);
    this.fd = -1;
  }
}

function errnoName(errno: number): string {
  // The ones a notify socket can actually produce (asm-generic/errno-base.h, errno.h).
  const names: Record<number, string> = { 2: 'ENOENT', 11: 'EAGAIN', 13: 'EACCES', 111: 'ECONNREFUSED', 90: 'EMSGSIZE' };
  return names[errno] ? ` (${names[errno]})` : '';
}
