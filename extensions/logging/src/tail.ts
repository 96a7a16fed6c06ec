import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { createRequire } from 'node:module';
import type { ExtensionBackend, Identity } from '@mortise/extension-sdk/backend';
import type { WebSocketServer as WsServer } from 'ws';
import type { Access } from './access.js';
import type { AppendedEvents } from './ingest.js';
import { labelValue, type StreamBatch } from './log-store.js';
import { LogQLError, matches, parseLogQL } from './logql.js';
import { ParamError, parseLimit, parseTimeNs } from './loki-params.js';
import { runPipeline } from './pipeline.js';
import { QueryLimitError, visibleFromNs, type Scope, type StreamResult } from './query-engine.js';
import { labelsWeight, MAX_RESULT_CHARS } from './query-limits.js';
import { QueryBusyError, type QueryPool } from './query-pool.js';
import { sortedLabels } from './sqlite-log-store.js';

/** A line left out of a frame, as Loki's tail names it. */
interface DroppedEntry { labels: string; timestamp: string }

const { WebSocketServer } = createRequire(import.meta.url)('ws') as { WebSocketServer: typeof WsServer };

// GET /loki/api/v1/tail as a websocket: first the recent lines (`start`, `limit`), then every
// line appended that the query and the caller's scope admit, as Loki's
// {"streams": [...], "dropped_entries": null} frames. The scope is asked again for every
// appended batch (cached 5 s, as for queries), so a tail open for hours never outlives the
// caller's rights: a namespace whose role was removed stops reaching it, and a caller left
// with no namespace at all is disconnected (close code 1008). The recent lines are read on a
// query thread (query-pool.ts); batches appended meanwhile wait, and are framed after them
// without the lines the recent ones already hold (a stream's line at a time, sent once).

const TAIL_PATH = '/loki/api/v1/tail';
/** Open tails per user, as Loki's max_concurrent_tail_requests: each costs work on every pushed batch. */
export const MAX_TAILS_PER_USER = 10;

/** A line as a tail sends it: its stream's labels, time and text. */
const sentKey = (labels: Record<string, string>, ts: string, line: string) => `${JSON.stringify(sortedLabels(labels))}\n${ts}\n${line}`;

export function attachTail(server: Server, deps: { backend: ExtensionBackend; queries: QueryPool; access: Access; events: AppendedEvents }): void {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  const open = new Map<string, number>();
  const release = (user: string) => {
    const n = (open.get(user) ?? 1) - 1;
    if (n > 0) open.set(user, n);
    else open.delete(user);
  };

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://backend');
    const refuse = (code: number, message: string) => {
      socket.end(`HTTP/1.1 ${code} ${STATUS_CODES[code]}\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n${message}\n`);
    };
    if (url.pathname !== TAIL_PATH) return refuse(404, 'not found');
    let identity: Identity;
    /** Set once the websocket holds the caller's slot (given back when it closes). */
    let upgraded = false;
    const tail = async () => {
      let query;
      let startNs: bigint;
      let limit: number;
      const text = url.searchParams.get('query') ?? '';
      try {
        query = parseLogQL(text);
        if (query.type !== 'log') throw new ParamError('tail takes a log query, not a metric query');
        const now = BigInt(Date.now()) * 1_000_000n;
        startNs = parseTimeNs(url.searchParams.get('start'), now - 3_600_000_000_000n, 'start');
        limit = parseLimit(url.searchParams.get('limit'), 100, 5000);
      } catch (e) {
        if (e instanceof LogQLError || e instanceof ParamError) return refuse(400, e.message);
        throw e;
      }
      const expr = query;
      const scope = await deps.access.scopeFor(identity);
      /** Whether a pushed stream is one this tail shows (in the scope, its selector matched). */
      const admits = (s: StreamBatch, within: Scope) => (within === 'all' || within.has(s.namespace)) && expr.matchers.every((m) => matches(m, labelValue(s.labels, m.name)));
      // Batches appended from now on wait for the recent lines (none is lost between the two):
      // the streams this tail may show, up to what one answer may hold.
      const waiting: StreamBatch[] = [];
      let waitingChars = 0;
      const wait = (batch: StreamBatch[]) => {
        for (const s of batch) {
          if (!admits(s, scope)) continue;
          waiting.push(s);
          for (const e of s.entries) waitingChars += e.line.length;
        }
      };
      deps.events.on('appended', wait);
      const stopWaiting = () => deps.events.off('appended', wait);
      socket.once('close', stopWaiting);
      // The recent lines before the upgrade: a query over the limits is refused as one (422).
      let recent: StreamResult[];
      try {
        recent = await deps.queries.logQuery(scope, text, { startNs, endNs: BigInt(Date.now()) * 1_000_000n + 1n, limit, direction: 'backward' });
      } catch (e) {
        stopWaiting();
        if (e instanceof QueryLimitError) return refuse(422, e.message);
        if (e instanceof QueryBusyError) return refuse(429, e.message);
        throw e;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        upgraded = true;
        stopWaiting();
        socket.off('close', stopWaiting);
        const send = (streams: StreamResult[], dropped: DroppedEntry[] = []) => {
          if ((streams.length || dropped.length) && ws.readyState === ws.OPEN) ws.send(JSON.stringify({ streams, dropped_entries: dropped.length ? dropped : null }));
        };
        for (const s of recent) s.values.reverse();
        send(recent);
        /** A batch's lines as one frame; past MAX_RESULT_CHARS, lines are only named in dropped_entries (Loki's shape). */
        const frame = (batch: StreamBatch[], scope: Scope, sent?: ReadonlySet<string>) => {
          const out = new Map<string, StreamResult>();
          const dropped: DroppedEntry[] = [];
          let chars = 0;
          for (const s of batch) {
            if (!admits(s, scope)) continue;
            const from = visibleFromNs(scope, s.namespace);
            for (const e of s.entries) {
              if (e.tsNs < from) continue;
              const r = runPipeline(expr.stages, e.line, s.labels);
              if (!r) continue;
              if (sent?.has(sentKey(r.labels, e.tsNs.toString(), r.line))) continue;
              const k = JSON.stringify(r.labels);
              let g = out.get(k);
              chars += r.line.length + (g ? 0 : labelsWeight(r.labels));
              if (chars > MAX_RESULT_CHARS) {
                // Named by the stream it was pushed to (a few labels), not what `| json` made of it.
                dropped.push({ labels: `{${Object.entries(s.labels).map(([n, v]) => `${n}=${JSON.stringify(v)}`).join(', ')}}`, timestamp: e.tsNs.toString() });
                continue;
              }
              if (!g) out.set(k, (g = { stream: r.labels, values: [] }));
              g.values.push([e.tsNs.toString(), r.line]);
            }
          }
          send([...out.values()], dropped);
        };
        // Batches are framed one after another, each with the scope in force when its turn comes.
        let turn = Promise.resolve();
        const onAppend = (batch: StreamBatch[], sent?: ReadonlySet<string>) => {
          turn = turn.then(async () => {
            if (ws.readyState !== ws.OPEN) return;
            let now: Scope;
            try {
              now = await deps.access.scopeFor(identity);
            } catch {
              return ws.close(1011, 'could not check the permission to read logs');
            }
            if (now !== 'all' && now.size === 0) return ws.close(1008, 'not allowed to read logs in any namespace');
            try {
              frame(batch, now, sent);
            } catch (e) {
              // A line_format beyond its limit: said once, as the reason the tail ends.
              ws.close(e instanceof QueryLimitError ? 1008 : 1011, (e as Error).message.slice(0, 120));
            }
          });
        };
        // What was appended while the recent lines were read, without the lines they hold.
        if (waitingChars > MAX_RESULT_CHARS) {
          release(identity.username);
          ws.close(1011, 'more lines arrived than a tail holds while it started: open it again');
          return;
        }
        if (waiting.length) onAppend(waiting.splice(0), new Set(recent.flatMap((g) => g.values.map(([ts, line]) => sentKey(g.stream, ts, line)))));
        const live = (batch: StreamBatch[]) => onAppend(batch);
        deps.events.on('appended', live);
        ws.on('close', () => {
          deps.events.off('appended', live);
          release(identity.username);
        });
        ws.on('error', () => ws.terminate());
      });
    };
    void (async () => {
      try {
        identity = await deps.backend.verifyIdentity(req.headers['x-mortise-identity'] as string | undefined);
      } catch {
        return refuse(401, 'no valid identity');
      }
      const user = identity.username;
      if ((open.get(user) ?? 0) >= MAX_TAILS_PER_USER) return refuse(429, `${user} has ${MAX_TAILS_PER_USER} tails open already: close one first`);
      // Taken before anything is awaited, so tails opened at once count too; given back unless a websocket took it.
      open.set(user, (open.get(user) ?? 0) + 1);
      try {
        await tail();
      } finally {
        if (!upgraded) release(user);
      }
    })().catch(() => refuse(400, 'the tail could not start'));
  });
}
