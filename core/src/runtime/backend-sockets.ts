import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// The Unix sockets process backends serve on besides their port (the SDK does when MORTISE_SOCKET
// is set). The core runs on the same machine and sends its requests there: over a socket a
// request costs the backend and the proxy in front of it much less CPU than over loopback TCP
// (docs/benchmarks.md, "The backends' sockets"), and the directory is the core's user's alone
// (0700), so no other local user can reach a backend that way.

/** sun_path holds 108 bytes with its NUL; a longer path is not offered (the backend serves on its port). */
const MAX_SOCKET_PATH_BYTES = 107;
/** A backend's socket in the sockets' directory: `<12 hex digits of its id's sha256>/http.sock`. */
const ID_HASH_CHARS = 12;
const SOCKET_NAME = 'http.sock';
/** What a backend's socket adds to the directory's path: `/<hash>/http.sock`. */
const SOCKET_IN_DIR_BYTES = 1 + ID_HASH_CHARS + 1 + SOCKET_NAME.length;

export class BackendSockets {
  private current?: string;

  /**
   * `dir`: the directory to use (the runtime's state dir's `sockets`: what a killed core left there
   * is removed by the next); without it, a private directory is made in `parent` (the OS temp dir).
   */
  private readonly where: { dir?: string; parent?: string };

  constructor(where: { dir?: string; parent?: string }) {
    // A state dir too deep for sun_path: the temp dir's (which a killed core leaves behind).
    this.where = where.dir && Buffer.byteLength(where.dir) + SOCKET_IN_DIR_BYTES <= MAX_SOCKET_PATH_BYTES ? where : { parent: where.parent };
    if (this.where.dir) rmSync(this.where.dir, { recursive: true, force: true });
  }

  /**
   * The socket the processes of backend `id` are offered, in a directory of its own (the only one
   * of the sockets' a confined backend may touch: it cannot replace another's); undefined when the
   * path would be too long.
   */
  pathOf(id: string): { dir: string; path: string } | undefined {
    if (!this.current) {
      if (this.where.dir) mkdirSync(this.where.dir, { recursive: true, mode: 0o700 });
      this.current = this.where.dir ?? mkdtempSync(join(this.where.parent ?? tmpdir(), 'mortise-sockets-'));
    }
    // Short (sun_path is short), one per id whatever the id holds.
    const dir = join(this.current, createHash('sha256').update(id).digest('hex').slice(0, ID_HASH_CHARS));
    const path = join(dir, SOCKET_NAME);
    if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) return undefined;
    // What an earlier process of it left goes: a confined backend may not be able to remove it.
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { mode: 0o700 });
    return { dir, path };
  }

  /** Removes the directory (no backend process runs). */
  remove(): void {
    if (this.current) rmSync(this.current, { recursive: true, force: true });
    this.current = undefined;
  }
}
