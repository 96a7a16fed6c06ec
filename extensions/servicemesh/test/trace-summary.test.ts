import { describe, expect, it } from 'vitest';
import { SpanStore, type Span } from '../src/tracing.js';

// A trace's services are listed in the order they were called. Hops recorded within one
// millisecond carry the same start time, and spans arrive in the order they ended (the innermost
// first), so the list follows the span tree, not the start times alone.

const span = (spanId: string, service: string, startTime: number, parentSpanId?: string, source = 'ingress'): Span => ({
  traceId: 'a'.repeat(32), spanId, parentSpanId, namespace: 'shop', source, service, version: 'v1', endpoint: 'http://127.0.0.1:1',
  method: 'GET', path: '/', status: 200, startTime, durationMs: 1, error: false, attempts: 1,
});

describe('trace summaries', () => {
  it('list a caller before what it called when their start times tie, and calls of one caller by start time', () => {
    const store = new SpanStore(10);
    // Ended (and so recorded) innermost first; frontend, catalog and inventory began in the same millisecond.
    store.record(span('c3', 'inventory', 1000, 'c2', 'catalog'));
    store.record(span('c2', 'catalog', 1000, 'c1', 'frontend'));
    store.record(span('c4', 'reviews', 1001, 'c1', 'frontend'));
    store.record(span('c1', 'frontend', 1000));
    const [summary] = store.list({ namespace: 'shop' });
    expect(summary!.services).toEqual(['frontend', 'catalog', 'inventory', 'reviews']);
    expect(summary!.rootService).toBe('frontend');
  });

  it('keeps spans whose parent is outside the store, by start time', () => {
    const store = new SpanStore(10);
    store.record(span('d2', 'catalog', 2001, 'gone'));
    store.record(span('d1', 'frontend', 2000, 'elsewhere'));
    expect(store.list({})[0]!.services).toEqual(['frontend', 'catalog']);
  });
});
