import { Alert, Anchor, Badge, Button, Group, Stack, Tabs, Text, Title } from '@mantine/core';
import { localize, useApi, useConsole, type PageProps } from '@mortise/extension-sdk/console';
import { useEffect, useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useParams } from 'react-router-dom';
import styles from './devops.css';
import { group, kapi, phaseColor, restAfter, runTabsPoint, version, type RunStatus, type RunTabProps, type Stage } from './paths.js';
import { StageGraph } from './StageGraph.js';

interface Run { metadata: { name: string }; spec: { pipeline: string; abort?: boolean }; status?: RunStatus }
interface LogEntry { id: number; stage?: string; step?: string; kind: 'out' | 'err' | 'marker'; text: string }

/**
 * Follows the run's log (server-sent events) through the console's API client, so the session
 * is refreshed as for any call; a dropped stream resumes after the last id it had.
 */
function useRunLog(api: ReturnType<typeof useApi>, ns: string, run: string): LogEntry[] {
  const [entries, setEntries] = useState<LogEntry[]>([]);
  useEffect(() => {
    setEntries([]);
    const ac = new AbortController();
    let last = 0;
    const follow = async () => {
      const res = await api.fetch(`${kapi(ns)}/pipelineruns/${encodeURIComponent(run)}/log`, { signal: ac.signal, headers: last ? { 'Last-Event-ID': String(last) } : {} });
      if (!res.ok || !res.body) throw new Error(`the log answered ${res.status}`);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return false;
        buffer += value;
        let at: number;
        while ((at = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, at);
          buffer = buffer.slice(at + 2);
          if (/^event: end$/m.test(block)) return true;
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (!/^event: log$/m.test(block) || !data) continue;
          const entry = JSON.parse(data) as LogEntry;
          if (entry.id <= last) continue;
          last = entry.id;
          setEntries((prev) => [...prev, entry]);
        }
      }
    };
    void (async () => {
      for (let attempt = 0; attempt < 30 && !ac.signal.aborted; attempt++) {
        try {
          if (await follow()) return;
        } catch {
          if (ac.signal.aborted) return;
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
    })();
    return () => ac.abort();
  }, [api, ns, run]);
  return entries;
}

/**
 * A run: its stages as a graph (phases live), the log of every step or of the one picked,
 * approve / abort, artifacts, and the tabs other extensions contribute to
 * `devops.mortise.io/run-tabs`.
 */
export default function RunPage(props: PageProps) {
  const api = useApi();
  const runtime = useConsole();
  const { t } = useTranslation('ext:devops');
  const ns = props.namespace!;
  const name = restAfter(useParams()['*'], 'runs/');
  const [run, setRun] = useState<Run>();
  const [stages, setStages] = useState<Stage[]>([]);
  const [selected, setSelected] = useState<string>();
  const [tab, setTab] = useState('log');
  const [error, setError] = useState<string>();
  const entries = useRunLog(api, ns, name);
  const logEnd = useRef<HTMLDivElement>(null);

  useEffect(() => {
    let stop = false;
    const load = async () => {
      try {
        const r = (await api.get({ group, version, resource: 'pipelineruns', namespace: ns, name })) as unknown as Run;
        if (stop) return;
        setRun(r);
        if (!stages.length) {
          const p = (await api.get({ group, version, resource: 'pipelines', namespace: ns, name: r.spec.pipeline })) as unknown as { spec: { stages: Stage[] } };
          setStages(p.spec.stages);
        }
      } catch (e) {
        setError((e as Error).message);
      }
    };
    void load();
    const timer = setInterval(() => void load(), 1000);
    return () => {
      stop = true;
      clearInterval(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [api, ns, name]);
  useEffect(() => {
    logEnd.current?.scrollIntoView?.({ block: 'nearest' });
  }, [entries.length]);

  const act = async (what: () => Promise<unknown>) => {
    setError(undefined);
    try {
      await what();
    } catch (e) {
      setError((e as Error).message);
    }
  };
  const phase = run?.status?.phase;
  const finished = phase === 'Succeeded' || phase === 'Failed' || phase === 'Aborted';
  const shown = selected ? entries.filter((e) => `${e.stage}/${e.step}` === selected || (e.kind === 'marker' && !e.step && e.stage === selected.split('/')[0])) : entries;
  const tabProps: RunTabProps = { namespace: ns, pipeline: run?.spec.pipeline ?? '', run: name, startTime: run?.status?.startTime, completionTime: run?.status?.completionTime };
  const contributed = runtime.contributions(runTabsPoint).filter((c) => c.component);

  return (
    <Stack>
      <Group justify="space-between">
        <Group>
          <Title order={2}>{name}</Title>
          <Badge size="lg" color={phaseColor(phase)} data-testid="run-phase">{phase ?? 'Pending'}</Badge>
        </Group>
        <Group>
          {phase === 'WaitingForApproval' && (
            <Button color="green" data-testid="run-approve" onClick={() => void act(() => api.request(`${kapi(ns)}/pipelineruns/${encodeURIComponent(name)}/approve`, { method: 'POST' }))}>{t('approve')}</Button>
          )}
          {!finished && (
            <Button color="red" variant="light" data-testid="run-abort" onClick={() => void act(() => api.patch({ group, version, resource: 'pipelineruns', namespace: ns, name }, { spec: { abort: true } }))}>{t('abort')}</Button>
          )}
        </Group>
      </Group>
      {run?.status?.message && <Text size="sm" c="dimmed">{run.status.message}</Text>}
      {run?.status?.triggeredBy && <Text size="sm" c="dimmed">{run.status.triggeredBy}</Text>}
      {error && <Alert color="red" data-testid="devops-error">{error}</Alert>}
      <StageGraph stages={stages} status={run?.status} selected={selected} onSelect={setSelected} />
      <Tabs value={tab} onChange={(v) => v && setTab(v)} keepMounted={false} data-testid="run-tabs">
        <Tabs.List>
          <Tabs.Tab value="log">{t('logs')}{selected ? ` — ${selected}` : ` — ${t('allSteps')}`}</Tabs.Tab>
          <Tabs.Tab value="artifacts" data-testid="run-tab-artifacts">{t('artifacts')}</Tabs.Tab>
          {contributed.map((c) => (
            <Tabs.Tab key={`x:${c.extension}/${c.id}`} value={`x:${c.extension}/${c.id}`} data-testid={`run-tab-${c.extension}-${c.id}`}>{localize(c.title ?? c.id, runtime.lang)}</Tabs.Tab>
          ))}
        </Tabs.List>
        <Tabs.Panel value="log" pt="xs">
          <div className={styles.log} data-testid="run-log">
            {shown.map((e) => (
              <div key={e.id} className={e.kind === 'marker' ? styles.marker : e.kind === 'err' ? styles.err : undefined}>{e.kind === 'marker' ? `▸ ${e.text}` : e.text}</div>
            ))}
            <div ref={logEnd} />
          </div>
        </Tabs.Panel>
        <Tabs.Panel value="artifacts" pt="xs">
          <Stack gap={4} data-testid="run-artifacts">
            {(run?.status?.artifacts ?? []).map((a) => (
              <Anchor key={a.name} href={`${kapi(ns)}/pipelineruns/${encodeURIComponent(name)}/artifacts/${encodeURIComponent(a.name)}`}>{a.name} ({a.size} bytes)</Anchor>
            ))}
          </Stack>
        </Tabs.Panel>
        {contributed.map((c) => (
          <Tabs.Panel key={`x:${c.extension}/${c.id}`} value={`x:${c.extension}/${c.id}`} pt="xs">
            {runtime.render(c.extension, c.component!, tabProps as unknown as Record<string, unknown>)}
          </Tabs.Panel>
        ))}
      </Tabs>
    </Stack>
  );
}
