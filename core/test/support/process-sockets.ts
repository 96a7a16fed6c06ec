import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

// Which connections a process holds, read from /proc (Linux): what a test checks to know which
// way a proxy reached a backend.

/** The inodes of the sockets among `pid`'s open files. */
function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  return inodes;
}

/** Connections `pid` accepted on the Unix socket `path` and still holds (state 03: connected). */
export function unixConnectionsAt(pid: number, path: string): number {
  const mine = socketInodes(pid);
  return readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1).filter((line) => {
    const f = line.trim().split(/\s+/);
    return f[5] === '03' && f[7] === path && mine.has(f[6]!);
  }).length;
}

/** Established TCP connections `pid` holds on its local `port` (IPv4 and IPv6). */
export function tcpConnectionsOn(pid: number, port: number): number {
  const mine = socketInodes(pid);
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  let n = 0;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] === '01' && f[1]?.endsWith(`:${hexPort}`) && mine.has(f[9]!)) n++;
    }
  }
  return n;
}
