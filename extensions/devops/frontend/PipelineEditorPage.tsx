import { Alert, Button, Group, Stack, Text, Textarea, Title } from '@mantine/core';
import { useApi, type PageProps } from '@mortise/extension-sdk/console';
import { useEffect, useMemo, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useNavigate, useParams } from 'react-router-dom';
import { parse, stringify } from 'yaml';
import styles from './devops.css';
import { group, pageBase, restAfter, version, type Stage } from './paths.js';
import { StageGraph } from './StageGraph.js';

interface PipelineObject { apiVersion: string; kind: string; metadata: { name: string; resourceVersion?: string }; spec: { stages?: Stage[] } }
interface Problem { field?: string; message: string }

const template = (ns: string) => stringify({
  apiVersion: `${group}/${version}`, kind: 'Pipeline', metadata: { name: 'my-pipeline', namespace: ns },
  spec: { stages: [{ name: 'build', steps: [{ sh: 'echo building' }] }, { name: 'test', parallel: [{ name: 'unit', steps: [{ sh: 'echo unit' }] }, { name: 'lint', steps: [{ sh: 'echo lint' }] }] }] },
});

/**
 * The pipeline as YAML, checked as you type by the core itself (a dry-run write: the CRD's
 * schema answers with the fields that are wrong), beside a graph of its stages.
 */
export default function PipelineEditorPage(props: PageProps) {
  const api = useApi();
  const { t } = useTranslation('ext:devops');
  const navigate = useNavigate();
  const ns = props.namespace!;
  const pipeline = restAfter(useParams()['*'], 'pipelines/') || 'new';
  const isNew = pipeline === 'new';
  const [text, setText] = useState(isNew ? template(ns) : '');
  const [resourceVersion, setResourceVersion] = useState<string>();
  const [problems, setProblems] = useState<Problem[]>([]);
  const [saved, setSaved] = useState<string>();
  const ref = { group, version, resource: 'pipelines', namespace: ns };

  useEffect(() => {
    if (isNew) return;
    api.get({ ...ref, name: pipeline }).then((o) => {
      const p = o as unknown as PipelineObject;
      setResourceVersion(p.metadata.resourceVersion);
      setText(stringify({ apiVersion: p.apiVersion, kind: p.kind, metadata: { name: p.metadata.name, namespace: ns }, spec: p.spec }));
    }, (e: Error) => setProblems([{ message: e.message }]));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [api, ns, pipeline]);

  const parsed = useMemo((): { object?: PipelineObject; error?: string } => {
    try {
      const object = parse(text) as PipelineObject;
      return object && typeof object === 'object' ? { object } : { error: 'the document is empty' };
    } catch (e) {
      return { error: (e as Error).message };
    }
  }, [text]);

  const write = async (dryRun: boolean): Promise<Problem[]> => {
    if (!parsed.object) return [{ message: parsed.error ?? 'not YAML' }];
    const body = { ...parsed.object, metadata: { ...parsed.object.metadata, namespace: ns, ...(resourceVersion ? { resourceVersion } : {}) } };
    const query = dryRun ? { dryRun: 'All' } : undefined;
    try {
      const result = isNew || !resourceVersion ? await api.create(ref, body as never, query) : await api.update({ ...ref, name: body.metadata.name }, body as never, query);
      if (!dryRun) setResourceVersion((result as { metadata: { resourceVersion?: string } }).metadata.resourceVersion);
      return [];
    } catch (e) {
      const status = (e as { status?: { details?: { causes?: Array<{ field?: string; message: string }> }; message?: string } }).status;
      return status?.details?.causes?.length ? status.details.causes : [{ message: status?.message ?? (e as Error).message }];
    }
  };

  // Validate as the text settles.
  useEffect(() => {
    if (!text) return;
    const timer = setTimeout(() => void write(true).then(setProblems), 400);
    return () => clearTimeout(timer);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [text, resourceVersion]);

  const save = async () => {
    const found = await write(false);
    setProblems(found);
    if (found.length) return;
    setSaved(parsed.object!.metadata.name);
    if (isNew) navigate(`${pageBase(props.workspace, ns)}/pipelines/${parsed.object!.metadata.name}`);
  };
  const stages = Array.isArray(parsed.object?.spec?.stages) ? parsed.object!.spec.stages!.filter((s) => s && typeof s.name === 'string') : [];

  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>{isNew ? t('create') : pipeline}</Title>
        <Button onClick={() => void save()} disabled={problems.length > 0} data-testid="pipeline-save">{t('save')}</Button>
      </Group>
      {problems.length > 0 ? (
        <Alert color="red" data-testid="pipeline-problems">{problems.map((p, i) => <Text key={i} size="sm">{p.field ? `${p.field}: ` : ''}{p.message}</Text>)}</Alert>
      ) : <Text size="sm" c="green" data-testid="pipeline-valid">{t('valid')}{saved ? ` — ${saved}` : ''}</Text>}
      <Text fw={600}>{t('stages')}</Text>
      <StageGraph stages={stages} />
      <Textarea classNames={{ input: styles.editor }} autosize minRows={16} value={text} onChange={(e) => setText(e.currentTarget.value)} data-testid="pipeline-yaml" spellCheck={false} />
    </Stack>
  );
}
