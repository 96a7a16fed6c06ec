// Answers that stay open (watches, event streams, followed logs), read as a client reads them.

export interface OpenStream {
  /** What has come so far. */
  text(): string;
  /** Whether the answer has ended (or failed) for the client. */
  ended(): boolean;
  abort(): void;
}

/** Reads `res`'s body in the background; `ac` is the controller its request was made with. */
export function readInBackground(res: Response, ac: AbortController): OpenStream {
  let text = '';
  let ended = false;
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  void (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  })().catch(() => undefined).finally(() => {
    ended = true;
  });
  return { text: () => text, ended: () => ended, abort: () => ac.abort() };
}

/** What a request answers within `ms` (then aborted): its status (0 if none came) and its text. */
export async function readWithin(request: (signal: AbortSignal) => Promise<Response>, ms: number): Promise<{ status: number; text: string }> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), ms);
  let status = 0;
  let text = '';
  try {
    const res = await request(ac.signal);
    status = res.status;
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  } catch {
    // aborted at `ms`
  } finally {
    clearTimeout(timer);
  }
  return { status, text };
}
