import { Alert, Badge, Button, Checkbox, Group, NativeSelect, Paper, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { useApi, type PageProps } from '@mortise/extension-sdk/console';
import { useCallback, useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Link, useNavigate } from 'react-router-dom';
import { initialValue, resolveParameters, type ParameterDefinition, type ParameterProblem } from '../src/run-parameters.js';
import { group, kapi, pageBase, phaseColor, version, type RunStatus } from './paths.js';

interface Pipeline { metadata: { name: string }; spec: { stages: unknown[]; parameters?: ParameterDefinition[]; triggers?: { cron?: { schedule: string }; webhook?: unknown } } }
interface Run { metadata: { name: string; creationTimestamp?: string }; spec: { pipeline: string }; status?: RunStatus }

/** The pipelines of a namespace, a button to run each, and the recent runs. */
export default function PipelinesPage(props: PageProps) {
  const api = useApi();
  const navigate = useNavigate();
  const { t } = useTranslation('ext:devops');
  const ns = props.namespace!;
  const base = pageBase(props.workspace, ns);
  const [pipelines, setPipelines] = useState<Pipeline[]>([]);
  const [runs, setRuns] = useState<Run[]>([]);
  const [error, setError] = useState<string>();
  /** The pipeline whose Run form is open (a pipeline with parameters asks for them first). */
  const [asking, setAsking] = useState<Pipeline>();
  const load = useCallback(async () => {
    try {
      setPipelines((await api.list({ group, version, resource: 'pipelines', namespace: ns })).items as unknown as Pipeline[]);
      const r = (await api.list({ group, version, resource: 'pipelineruns', namespace: ns })).items as unknown as Run[];
      setRuns(r.sort((a, b) => (b.metadata.creationTimestamp ?? '').localeCompare(a.metadata.creationTimestamp ?? '')).slice(0, 20));
    } catch (e) {
      setError((e as Error).message);
    }
  }, [api, ns]);
  useEffect(() => {
    void load();
    const timer = setInterval(() => void load(), 3000);
    return () => clearInterval(timer);
  }, [load]);
  const run = async (name: string, parameters: Record<string, string> = {}) => {
    setError(undefined);
    try {
      const created = await api.request<{ metadata: { name: string } }>(`${kapi(ns)}/pipelines/${encodeURIComponent(name)}/run`, { method: 'POST', json: { parameters } });
      navigate(`${base}/runs/${created.metadata.name}`);
    } catch (e) {
      setError((e as Error).message);
    }
  };
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>{t('pipelines')}</Title>
        <Button component={Link} to={`${base}/pipelines/new`} variant="light">{t('create')}</Button>
      </Group>
      {error && <Alert color="red" data-testid="devops-error">{error}</Alert>}
      <Table data-testid="devops-pipelines">
        <Table.Tbody>
          {pipelines.map((p) => (
            <Table.Tr key={p.metadata.name}>
              <Table.Td><Link to={`${base}/pipelines/${p.metadata.name}`}>{p.metadata.name}</Link></Table.Td>
              <Table.Td>{p.spec.stages.length} stages</Table.Td>
              <Table.Td>{p.spec.triggers?.cron && <Badge variant="light">cron {p.spec.triggers.cron.schedule}</Badge>}{p.spec.triggers?.webhook !== undefined && <Badge variant="light">webhook</Badge>}</Table.Td>
              <Table.Td><Button size="xs" onClick={() => (p.spec.parameters?.length ? setAsking(p) : void run(p.metadata.name))} data-testid={`run-${p.metadata.name}`}>{t('run')}</Button></Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {asking && <RunForm key={asking.metadata.name} pipeline={asking} onRun={(values) => void run(asking.metadata.name, values)} onCancel={() => setAsking(undefined)} />}
      <Title order={4}>{t('runs')}</Title>
      <Table>
        <Table.Tbody>
          {runs.map((r) => (
            <Table.Tr key={r.metadata.name}>
              <Table.Td><Link to={`${base}/runs/${r.metadata.name}`}>{r.metadata.name}</Link></Table.Td>
              <Table.Td>{r.spec.pipeline}</Table.Td>
              <Table.Td><Badge color={phaseColor(r.status?.phase)}>{r.status?.phase ?? 'Pending'}</Badge></Table.Td>
              <Table.Td><Text size="xs" c="dimmed">{r.status?.triggeredBy}</Text></Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Stack>
  );
}

/** The Run form: one input per parameter, typed by its definition, checked before the run is asked for. */
function RunForm({ pipeline, onRun, onCancel }: { pipeline: Pipeline; onRun: (values: Record<string, string>) => void; onCancel: () => void }) {
  const { t } = useTranslation('ext:devops');
  const defs = pipeline.spec.parameters ?? [];
  const [values, setValues] = useState<Record<string, string>>(() => Object.fromEntries(defs.map((p) => [p.name, initialValue(p)])));
  const [problems, setProblems] = useState<ParameterProblem[]>([]);
  const set = (name: string, v: string) => setValues({ ...values, [name]: v });
  const problem = (name: string) => problems.find((p) => p.field === `parameters.${name}`)?.message;
  const submit = () => {
    const checked = resolveParameters(defs, values);
    setProblems(checked.problems);
    if (!checked.problems.length) onRun(checked.values);
  };
  return (
    <Paper withBorder p="md" data-testid="run-form">
      <Stack>
        <Title order={4}>{t('runWith', { name: pipeline.metadata.name })}</Title>
        {defs.map((p) => {
          const common = { label: p.name, description: p.description, error: problem(p.name), 'data-testid': `param-${p.name}` };
          if (p.type === 'boolean') return <Checkbox key={p.name} {...common} checked={values[p.name] === 'true'} onChange={(e) => set(p.name, String(e.currentTarget.checked))} />;
          if (p.type === 'choice') return <NativeSelect key={p.name} {...common} data={p.choices ?? []} value={values[p.name]} onChange={(e) => set(p.name, e.currentTarget.value)} />;
          return <TextInput key={p.name} {...common} value={values[p.name]} onChange={(e) => set(p.name, e.currentTarget.value)} />;
        })}
        <Group>
          <Button onClick={submit} data-testid="run-start">{t('run')}</Button>
          <Button variant="subtle" onClick={onCancel}>{t('cancel')}</Button>
        </Group>
      </Stack>
    </Paper>
  );
}
