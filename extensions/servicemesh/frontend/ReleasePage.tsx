import { Alert, Badge, Button, Card, Group, NativeSelect, NumberInput, Stack, Text, TextInput, Title } from '@mantine/core';
import { useApi } from '@mortise/extension-sdk/console';
import { useEffect, useState } from 'react';
import { MeshHeader, useNamespace, usePoll } from './MeshHeader.js';
import { base, meshGroup, pct, type GrayRelease, type WindowStats } from './mesh-api.js';
import styles from './mesh.css';

interface MeshService { metadata: { name: string }; spec: { versions: Array<{ name: string }> } }

/** The grayscale-release wizard, and each release with its live traffic split and its buttons. */
export default function ReleasePage() {
  const api = useApi();
  const [ns] = useNamespace();
  const [services, setServices] = useState<MeshService[]>([]);
  const [service, setService] = useState('');
  const [stable, setStable] = useState('');
  const [canary, setCanary] = useState('');
  const [strategy, setStrategy] = useState('canary');
  const [weight, setWeight] = useState<number | string>(10);
  const [headerName, setHeaderName] = useState('');
  const [headerValue, setHeaderValue] = useState('');
  const [maxErrorRate, setMaxErrorRate] = useState<number | string>(5);
  const [error, setError] = useState<string>();
  const ref = { ...meshGroup, resource: 'grayreleases', namespace: ns };
  const { data: releases, error: listError } = usePoll(() => api.list(ref).then((l) => l.items as unknown as GrayRelease[]), 2000, [api, ns]);

  useEffect(() => {
    api.list({ ...meshGroup, resource: 'meshservices', namespace: ns }).then((l) => {
      const multi = (l.items as unknown as MeshService[]).filter((s) => s.spec.versions.length >= 2);
      setServices(multi);
      if (multi[0]) {
        setService(multi[0].metadata.name);
        setStable(multi[0].spec.versions[0]!.name);
        setCanary(multi[0].spec.versions[1]!.name);
      }
    }, (e: Error) => setError(e.message));
  }, [api, ns]);
  const versions = services.find((s) => s.metadata.name === service)?.spec.versions.map((v) => v.name) ?? [];

  const create = async () => {
    setError(undefined);
    const w = Number(weight);
    try {
      await api.create(ref, {
        apiVersion: 'servicemesh.mortise.io/v1alpha1', kind: 'GrayRelease', metadata: { name: `${service}-${canary}` },
        spec: {
          service, stable, canary, strategy,
          ...(strategy === 'canary' ? { steps: [...new Set([w, 50, 100])].filter((x) => x >= w).sort((a, b) => a - b), step: 0 } : { step: 0 }),
          ...(headerName ? { header: { name: headerName, exact: headerValue } } : {}),
          analysis: { maxErrorRate: Number(maxErrorRate) / 100, windowSeconds: 30, minRequests: 10 },
        },
      } as never);
    } catch (e) {
      setError((e as Error).message);
    }
  };

  return (
    <Stack>
      <MeshHeader tab="releases" />
      {(error || listError) && <Alert color="red" data-testid="release-error">{error ?? listError}</Alert>}
      <Card withBorder data-testid="release-wizard">
        <Title order={4} mb="sm">New grayscale release</Title>
        <Group align="end">
          <NativeSelect label="Service" data={services.map((s) => s.metadata.name)} value={service} onChange={(e) => setService(e.currentTarget.value)} />
          <NativeSelect label="Stable version" data={versions} value={stable} onChange={(e) => setStable(e.currentTarget.value)} />
          <NativeSelect label="New version" data={versions} value={canary} onChange={(e) => setCanary(e.currentTarget.value)} />
          <NativeSelect label="Strategy" data={[{ value: 'canary', label: 'Canary' }, { value: 'blueGreen', label: 'Blue-green' }, { value: 'mirror', label: 'Mirror' }]} value={strategy} onChange={(e) => setStrategy(e.currentTarget.value)} />
          {strategy === 'canary' && <NumberInput label="First weight %" min={0} max={100} value={weight} onChange={setWeight} w={120} />}
        </Group>
        <Group align="end" mt="sm">
          {strategy === 'canary' && <TextInput label="Header (optional)" placeholder="x-canary" value={headerName} onChange={(e) => setHeaderName(e.currentTarget.value)} />}
          {strategy === 'canary' && headerName && <TextInput label="Header value" value={headerValue} onChange={(e) => setHeaderValue(e.currentTarget.value)} />}
          <NumberInput label="Roll back above error %" min={0} max={100} value={maxErrorRate} onChange={setMaxErrorRate} w={180} />
          <Button onClick={create} disabled={!service || stable === canary}>Start release</Button>
        </Group>
      </Card>
      {(releases ?? []).map((r) => <ReleaseCard key={r.metadata.name} release={r} onError={setError} />)}
    </Stack>
  );
}

function ReleaseCard({ release, onError }: { release: GrayRelease; onError: (m: string) => void }) {
  const api = useApi();
  const { namespace, name } = release.metadata;
  const { data } = usePoll(() => api.request<{ versions: Array<{ name: string; stats: WindowStats }> }>(`${base}/namespaces/${namespace}/services/${release.spec.service}?window=10`), 2000, [api, namespace, release.spec.service]);
  const rate = (v: string) => data?.versions.find((x) => x.name === v)?.stats;
  const s = rate(release.spec.stable);
  const c = rate(release.spec.canary);
  const total = (s?.rps ?? 0) + (c?.rps ?? 0);
  const share = total > 0 ? (c?.rps ?? 0) / total : 0;
  const act = (action: 'promote' | 'rollback') => api.request(`${base}/namespaces/${namespace}/grayreleases/${name}/${action}`, { method: 'POST' }).catch((e: Error) => onError(e.message));
  const steps = release.spec.steps ?? [];
  const next = () => api.patch({ ...meshGroup, resource: 'grayreleases', namespace, name }, { spec: { step: (release.spec.step ?? 0) + 1 } }).catch((e: Error) => onError(e.message));
  const phase = release.status?.phase ?? 'Pending';
  return (
    <Card withBorder data-testid={`release-${name}`}>
      <Group justify="space-between">
        <Text fw={600}>{name}: {release.spec.stable} → {release.spec.canary} ({release.spec.strategy})</Text>
        <Badge data-testid="release-phase" color={phase === 'RolledBack' ? 'red' : phase === 'Promoted' ? 'green' : 'blue'}>{phase}</Badge>
      </Group>
      <Text size="sm" c="dimmed">{release.status?.message}</Text>
      <Text size="sm">Configured weight of {release.spec.canary}: <b data-testid="release-weight">{release.status?.canaryWeight ?? 0}%</b> · live split (10 s): {pct(share)} to {release.spec.canary}</Text>
      <div className={styles.split} aria-label="live traffic split">
        <div style={{ width: `${(1 - share) * 100}%`, background: '#339af0' }} title={`${release.spec.stable} ${(s?.rps ?? 0).toFixed(1)}/s`} />
        <div style={{ width: `${share * 100}%`, background: '#f76707' }} title={`${release.spec.canary} ${(c?.rps ?? 0).toFixed(1)}/s`} />
      </div>
      <Group mt="sm">
        {release.spec.strategy === 'canary' && phase === 'Progressing' && (release.spec.step ?? 0) < steps.length - 1 && <Button variant="light" onClick={next}>Next step ({steps[(release.spec.step ?? 0) + 1]}%)</Button>}
        {release.spec.strategy === 'blueGreen' && phase === 'Progressing' && (release.spec.step ?? 0) < 1 && <Button variant="light" onClick={next}>Switch</Button>}
        <Button color="green" onClick={() => act('promote')} disabled={phase === 'Promoted'}>Promote</Button>
        <Button color="red" variant="outline" onClick={() => act('rollback')} disabled={phase === 'RolledBack'}>Roll back</Button>
      </Group>
    </Card>
  );
}
