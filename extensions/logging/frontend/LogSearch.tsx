import { Alert, Badge, Button, Card, Code, Group, Loader, ScrollArea, SegmentedControl, Select, Stack, Text, TextInput } from '@mantine/core';
import { useApi } from '@mortise/extension-sdk/console';
import { Fragment, useCallback, useEffect, useRef, useState, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { Bar, BarChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { histogram, labelNames, labelValues, queryLines, quote, tailSocket, type LogLine, type StreamResult } from './loki-api.js';
import styles from './logs.css';

// The search: a query builder and a LogQL field, a time range, a histogram of matching lines
// over the range, the lines (matches highlighted, context on demand), and a live tail.

const ranges: Record<string, number> = { '5m': 300_000, '1h': 3_600_000, '6h': 21_600_000, '24h': 86_400_000, '7d': 604_800_000 };
const MAX_TAILED = 1000;

export interface LogSearchProps {
  /** Matchers every query keeps (a namespace, an extension's platform stream): shown, not removable. */
  fixed?: Record<string, string>;
  /** A window of its own (a pipeline run's) instead of a range picker. */
  window?: { startMs: number; endMs: number };
  /** Oldest first (a run's log reads top to bottom); newest first by default. */
  direction?: 'forward' | 'backward';
  /** Labels whose values are shown before each line (a run's step). */
  lineLabels?: string[];
}

function selector(matchers: Record<string, string>): string {
  return `{${Object.entries(matchers).map(([k, v]) => `${k}=${quote(v)}`).join(', ')}}`;
}

/** The `|= "…"` needles of a query, to highlight. */
function needles(query: string): string[] {
  return [...query.matchAll(/\|=\s*"((?:[^"\\]|\\.)*)"/g)].map((m) => JSON.parse(`"${m[1]}"`) as string).filter(Boolean);
}

function highlight(line: string, marks: string[]): ReactNode {
  if (!marks.length) return line;
  const parts: ReactNode[] = [];
  let at = 0;
  for (;;) {
    let next = -1;
    let mark = '';
    for (const m of marks) {
      const i = line.indexOf(m, at);
      if (i >= 0 && (next < 0 || i < next)) [next, mark] = [i, m];
    }
    if (next < 0) break;
    parts.push(line.slice(at, next), <mark key={next} className={styles.mark}>{mark}</mark>);
    at = next + mark.length;
  }
  parts.push(line.slice(at));
  return parts;
}

const time = (ts: string) => new Date(Number(BigInt(ts) / 1_000_000n)).toISOString().replace('T', ' ').replace('Z', '');

export function LogSearch({ fixed = {}, window, direction = 'backward', lineLabels = [] }: LogSearchProps) {
  const api = useApi();
  const { t } = useTranslation('ext:logging');
  const [matchers, setMatchers] = useState<Record<string, string>>({});
  const [contains, setContains] = useState('');
  // LogQL needs a matcher that excludes the empty value: with none chosen, every namespace's lines.
  const chosen = { ...fixed, ...matchers };
  const built = `${Object.keys(chosen).length ? selector(chosen) : '{namespace=~".+"}'}${contains ? ` |= ${quote(contains)}` : ''}`;
  const [query, setQuery] = useState(built);
  const [range, setRange] = useState('1h');
  const [labels, setLabels] = useState<string[]>([]);
  const [label, setLabel] = useState<string | null>(null);
  const [values, setValues] = useState<string[]>([]);
  const [value, setValue] = useState<string | null>(null);
  const [lines, setLines] = useState<LogLine[] | undefined>();
  const [bars, setBars] = useState<Array<{ t: number; n: number }>>([]);
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const [context, setContext] = useState<{ at: LogLine; lines: LogLine[] }>();
  const [tailing, setTailing] = useState(false);
  const socket = useRef<WebSocket>();

  useEffect(() => {
    labelNames(api).then(setLabels, () => setLabels([]));
  }, [api]);
  useEffect(() => {
    if (label) labelValues(api, label).then(setValues, () => setValues([]));
  }, [api, label]);
  // A changed builder rewrites the query field; the field can then be edited freely.
  useEffect(() => setQuery(built), [built]);

  const run = useCallback(async (q = query) => {
    setBusy(true);
    setError(undefined);
    setContext(undefined);
    const endMs = window?.endMs ?? Date.now();
    const startMs = window?.startMs ?? endMs - ranges[range]!;
    try {
      const [found, hist] = await Promise.all([queryLines(api, q, startMs, endMs, 500, direction), histogram(api, q, startMs, endMs)]);
      setLines(found);
      setBars(hist);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  }, [api, query, range, window, direction]);

  useEffect(() => {
    void run(built);
    // The first query runs once, on what the page was opened with.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  const showContext = async (at: LogLine) => {
    const ms = Number(BigInt(at.ts) / 1_000_000n);
    const stream = selector(at.labels);
    const [before, after] = await Promise.all([queryLines(api, stream, ms - 3_600_000, ms + 1, 11, 'backward'), queryLines(api, stream, ms, ms + 3_600_000, 11, 'forward')]);
    const all = new Map([...before, ...after].map((l) => [`${l.ts} ${l.line}`, l]));
    setContext({ at, lines: [...all.values()].sort((a, b) => (BigInt(a.ts) < BigInt(b.ts) ? -1 : 1)) });
  };

  const toggleTail = () => {
    if (socket.current) {
      socket.current.close();
      socket.current = undefined;
      setTailing(false);
      return;
    }
    const ws = tailSocket(query, Date.now());
    ws.onmessage = (m) => {
      const frame = JSON.parse(String(m.data)) as { streams: StreamResult[] };
      const fresh = frame.streams.flatMap((s) => s.values.map(([ts, line]) => ({ ts, line, labels: s.stream }))).sort((a, b) => (BigInt(a.ts) < BigInt(b.ts) ? 1 : -1));
      setLines((old) => [...fresh, ...(old ?? [])].slice(0, MAX_TAILED));
    };
    ws.onerror = () => setError('the live tail could not connect');
    ws.onclose = () => setTailing(false);
    socket.current = ws;
    setTailing(true);
  };
  useEffect(() => () => socket.current?.close(), []);

  const marks = needles(query);
  return (
    <Stack>
      <Group align="flex-end" wrap="wrap">
        {Object.entries(fixed).map(([k, v]) => <Badge key={k} variant="light">{k}={v}</Badge>)}
        {Object.entries(matchers).map(([k, v]) => (
          <Badge key={k} variant="outline" rightSection={<span className={styles.remove} onClick={() => setMatchers(({ [k]: _, ...rest }) => rest)}>×</span>}>{k}={v}</Badge>
        ))}
        <Select label={t('label')} data={labels.filter((l) => !(l in fixed))} value={label} onChange={setLabel} searchable w={160} aria-label={t('label')} />
        <Select label={t('value')} data={values} value={value} onChange={setValue} searchable w={200} aria-label={t('value')} />
        <Button variant="light" disabled={!label || !value} onClick={() => label && value && setMatchers((m) => ({ ...m, [label]: value }))}>{t('add')}</Button>
        <TextInput label={t('contains')} value={contains} onChange={(e) => setContains(e.currentTarget.value)} w={200} data-testid="log-contains" />
      </Group>
      <Group align="flex-end">
        <TextInput label={t('query')} value={query} onChange={(e) => setQuery(e.currentTarget.value)} onKeyDown={(e) => e.key === 'Enter' && void run()}
          className={styles.query} styles={{ input: { fontFamily: 'var(--mantine-font-family-monospace)' } }} data-testid="logql-input" />
        {!window && <SegmentedControl data={Object.keys(ranges)} value={range} onChange={setRange} aria-label={t('range')} />}
        <Button onClick={() => void run()} loading={busy} data-testid="log-run">{t('run')}</Button>
        {!window && <Button variant={tailing ? 'filled' : 'outline'} color={tailing ? 'red' : undefined} onClick={toggleTail} data-testid="log-tail-toggle">{tailing ? t('stop') : t('tail')}</Button>}
      </Group>
      {error && <Alert color="red" data-testid="log-error">{error}</Alert>}
      <Card withBorder p="xs" data-testid="log-histogram">
        <Text size="xs" c="dimmed">{t('histogram')}</Text>
        <ResponsiveContainer width="100%" height={110}>
          <BarChart data={bars}>
            <XAxis dataKey="t" tickFormatter={(v: number) => new Date(v).toLocaleTimeString()} fontSize={10} minTickGap={40} />
            <YAxis allowDecimals={false} fontSize={10} width={36} />
            <Tooltip labelFormatter={(v: number) => new Date(v).toLocaleString()} />
            <Bar dataKey="n" fill="var(--mantine-color-blue-6)" isAnimationActive={false} />
          </BarChart>
        </ResponsiveContainer>
      </Card>
      {tailing && <Text size="sm" c="dimmed" data-testid="log-tailing">{t('tailing')}</Text>}
      {!lines ? <Loader size="sm" /> : lines.length === 0 ? <Text c="dimmed" data-testid="log-none">{t('none')}</Text> : (
        <>
          <Text size="sm" c="dimmed">{t('lines', { count: lines.length })}</Text>
          <ScrollArea.Autosize mah={600}>
            <Stack gap={0}>
              {lines.map((l, i) => (
                <Fragment key={`${l.ts}-${i}`}>
                  <div className={styles.line} data-testid="log-line" onClick={() => void showContext(l)} title={t('context')}>
                    <span className={styles.time}>{time(l.ts)}</span>
                    {lineLabels.map((k) => l.labels[k] && <span key={k} className={styles.time} data-testid={`log-label-${k}`}>{l.labels[k]}</span>)}
                    <Code className={styles.text}>{highlight(l.line, marks)}</Code>
                  </div>
                  {context?.at === l && (
                    <Card withBorder m="xs" data-testid="log-context">
                      <Text size="xs" c="dimmed">{t('context')}: {selector(l.labels)}</Text>
                      {context.lines.map((c, j) => (
                        <div key={j} className={c.ts === l.ts && c.line === l.line ? styles.current : styles.line}>
                          <span className={styles.time}>{time(c.ts)}</span><Code className={styles.text}>{c.line}</Code>
                        </div>
                      ))}
                    </Card>
                  )}
                </Fragment>
              ))}
            </Stack>
          </ScrollArea.Autosize>
        </>
      )}
    </Stack>
  );
}
