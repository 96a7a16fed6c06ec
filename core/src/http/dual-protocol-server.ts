import { createServer as createHttpServer, type IncomingMessage, type RequestListener, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ServingCerts } from './serving-certs.js';

/**
 * HTTP and HTTPS on one port: the first byte of a connection tells a TLS handshake (0x16)
 * from plain HTTP. The quick start stays `http://127.0.0.1:8080`, and kubectl (which only
 * sends credentials over TLS) uses `https://` on the same port.
 */
export class DualProtocolServer {
  private readonly net: NetServer;
  readonly http: HttpServer;
  readonly https: HttpsServer;
  private readonly sockets = new Set<Socket>();
  /** Connections that have not sent a byte yet: no request in flight, not known to http/https. */
  private readonly unclaimed = new Set<Socket>();
  /** Resolves once the listener is closed and every connection with it (stopAccepting()). */
  private closed?: Promise<void>;

  constructor(handler: RequestListener, certs: ServingCerts, opts: { firstByteTimeoutMs?: number } = {}) {
    this.http = createHttpServer(handler);
    this.https = createHttpsServer({ cert: certs.certPem, key: certs.keyPem }, handler);
    for (const s of [this.http, this.https]) s.keepAliveTimeout = 65_000;
    // Nagle off (http.createServer's own default): a response written as headers then body
    // must not wait for the client's delayed ACK.
    this.net = createNetServer({ noDelay: true, keepAlive: true }, (socket) => {
      this.sockets.add(socket);
      this.unclaimed.add(socket);
      socket.on('close', () => {
        this.sockets.delete(socket);
        this.unclaimed.delete(socket);
      });
      // A reset before the first byte (nobody else listens yet) must not crash the process; the
      // socket closes itself. Later, http/https add their own handlers next to this one.
      socket.on('error', () => undefined);
      // A connection that never says anything is not kept forever (http's timeouts start later).
      socket.setTimeout(opts.firstByteTimeoutMs ?? 60_000, () => {
        if (this.unclaimed.has(socket)) socket.destroy();
      });
      socket.once('data', (first: Buffer) => {
        this.unclaimed.delete(socket);
        socket.setTimeout(0);
        socket.pause();
        socket.unshift(first);
        (first[0] === 0x16 ? this.https : this.http).emit('connection', socket);
        process.nextTick(() => socket.resume());
      });
    });
  }

  /**
   * Upgrade requests (websockets) on either protocol go to `handler`, which owns the socket from
   * then on. Without a handler Node answers them as the plain requests they also are.
   */
  onUpgrade(handler: (req: IncomingMessage, socket: Duplex, head: Buffer) => void): void {
    for (const s of [this.http, this.https]) s.on('upgrade', handler);
  }

  listen(port: number, host: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.net.once('error', reject);
      this.net.listen(port, host, () => {
        // The inner servers never listen themselves; 'listening' is what starts their
        // connection tracking (closeIdleConnections, request timeouts).
        this.http.emit('listening');
        this.https.emit('listening');
        resolve(this.net.address() as AddressInfo);
      });
    });
  }

  /** Stops accepting new connections; those open go on (close() ends them). */
  stopAccepting(): void {
    this.closed ??= new Promise<void>((resolve) => this.net.close(() => resolve()));
  }

  /** Stops accepting; idle keep-alive connections close now, busy ones when done or at the deadline. */
  async close(deadlineMs: number): Promise<void> {
    this.stopAccepting();
    const closed = this.closed!;
    for (const s of this.unclaimed) s.destroy();
    this.http.closeIdleConnections();
    this.https.closeIdleConnections();
    const t = setTimeout(() => this.destroyAll(), deadlineMs);
    t.unref();
    // Keep-alive sockets that finish a request later are closed as they go idle.
    const sweep = setInterval(() => {
      this.http.closeIdleConnections();
      this.https.closeIdleConnections();
    }, 50);
    sweep.unref();
    await closed;
    clearInterval(sweep);
    clearTimeout(t);
  }

  destroyAll(): void {
    for (const s of this.sockets) s.destroy();
  }
}
