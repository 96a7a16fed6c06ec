import { Alert, Button, Group, List, Loader, Modal, Stack, Tabs, Textarea, Title } from '@mantine/core';
import { ApiRequestError, localize, useApi, type KubeObject, type KubeStatus, type ResourceActionExtension } from '@mortise/extension-sdk/console';
import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useNavigate, useParams, useSearchParams } from 'react-router-dom';
import { parse, stringify } from 'yaml';
import { groupOf } from './discovery.js';
import { AccessGate } from '../../app/AccessGate.js';
import { ExtensionComponent } from '../../extensions/ExtensionComponent.js';
import { useExtensions } from '../../extensions/ExtensionsContext.js';

/** One object as YAML: edit and save (PUT), the core's validation errors shown in place; create with `~new`. */
export function ResourceDetail() {
  const { t, i18n } = useTranslation();
  const api = useApi();
  const navigate = useNavigate();
  const params = useParams();
  const [search] = useSearchParams();
  const namespace = search.get('namespace') ?? undefined;
  const creating = params.name === '~new';
  const ref = { group: groupOf(params.group!), version: params.version!, resource: params.resource!, namespace };
  const [text, setText] = useState<string | undefined>(creating ? stringify({ apiVersion: ref.group ? `${ref.group}/${ref.version}` : ref.version, kind: '', metadata: { name: '', ...(namespace ? { namespace } : {}) } }) : undefined);
  const [problem, setProblem] = useState<{ message: string; causes: NonNullable<KubeStatus['details']>['causes'] }>();
  const [saved, setSaved] = useState(false);
  const [object, setObject] = useState<KubeObject>();
  const [action, setAction] = useState<ResourceActionExtension & { extension: string }>();
  // What enabled extensions add to this kind's page: tabs (e.g. "Logs" on namespaces) and actions.
  const extensions = useExtensions();
  const forThis = <T extends { resource: { group: string; resource: string } }>(list: (e: (typeof extensions)[number]) => T[] | undefined) =>
    extensions.flatMap((e) => (list(e) ?? []).filter((x) => x.resource.group === ref.group && x.resource.resource === ref.resource).map((x) => ({ ...x, extension: e.name })));
  const tabs = creating ? [] : forThis((e) => e.module?.resourceTabs);
  const actions = creating ? [] : forThis((e) => e.module?.resourceActions);
  useEffect(() => {
    if (creating) return;
    api.get({ ...ref, name: params.name! }).then((o) => {
      setObject(o);
      setText(stringify(o));
    }, (e: Error) => setProblem({ message: e.message, causes: [] }));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [api, params.name]);

  const save = async () => {
    setProblem(undefined);
    setSaved(false);
    let object: KubeObject;
    try {
      object = parse(text ?? '') as KubeObject;
    } catch (e) {
      return setProblem({ message: `YAML: ${(e as Error).message}`, causes: [] });
    }
    try {
      const result = creating ? await api.create(ref, object) : await api.update({ ...ref, name: params.name! }, object);
      setText(stringify(result));
      setSaved(true);
      if (creating) navigate(`../${encodeURIComponent(result.metadata.name!)}${namespace ? `?namespace=${encodeURIComponent(namespace)}` : ''}`, { relative: 'path', replace: true });
    } catch (e) {
      setProblem(e instanceof ApiRequestError ? { message: e.message, causes: e.status?.details?.causes ?? [] } : { message: String(e), causes: [] });
    }
  };

  const remove = async () => {
    try {
      await api.delete({ ...ref, name: params.name! });
      navigate(-1);
    } catch (e) {
      setProblem({ message: (e as Error).message, causes: [] });
    }
  };

  return (
    <Stack>
      <Title order={2}>{creating ? `${t('common.create')} ${params.resource}` : `${params.resource}/${params.name}`}</Title>
      {problem && (
        <Alert color="red" title={t('common.error')} data-testid="resource-error">
          {problem.message}
          {!!problem.causes?.length && <List size="sm" mt="xs">{problem.causes.map((c, i) => <List.Item key={i}>{c.field ? `${c.field}: ` : ''}{c.message}</List.Item>)}</List>}
        </Alert>
      )}
      {saved && <Alert color="green" data-testid="resource-saved" withCloseButton onClose={() => setSaved(false)}>{t('resources.saved')}</Alert>}
      {actions.length > 0 && object && (
        <Group gap="xs">
          {actions.map((a) => (
            <AccessGate key={`${a.extension}/${a.id}`} checks={a.requires}>
              <Button size="xs" variant="light" onClick={() => setAction(a)}>{localize(a.title, i18n.language)}</Button>
            </AccessGate>
          ))}
        </Group>
      )}
      {action && object && (
        <Modal opened onClose={() => setAction(undefined)} title={localize(action.title, i18n.language)} size="lg">
          <ExtensionComponent extension={action.extension} load={action.component} props={{ resource: action.resource, object: object as never, onClose: () => setAction(undefined) }} />
        </Modal>
      )}
      <Tabs defaultValue="yaml" keepMounted={false}>
        <Tabs.List>
          <Tabs.Tab value="yaml">YAML</Tabs.Tab>
          {tabs.map((tab) => (
            <AccessGate key={`${tab.extension}/${tab.id}`} checks={tab.requires}>
              <Tabs.Tab value={`${tab.extension}/${tab.id}`}>{localize(tab.title, i18n.language)}</Tabs.Tab>
            </AccessGate>
          ))}
        </Tabs.List>
        <Tabs.Panel value="yaml" pt="md">
          <Stack>
            {text === undefined ? <Loader size="sm" /> : (
              <Textarea value={text} onChange={(e) => setText(e.currentTarget.value)} autosize minRows={16} maxRows={40} spellCheck={false}
                styles={{ input: { fontFamily: 'var(--mantine-font-family-monospace)', fontSize: 13 } }} aria-label="YAML editor" />
            )}
            <Group>
              <Button onClick={save}>{t('common.save')}</Button>
              {!creating && <Button color="red" variant="light" onClick={remove}>{t('common.delete')}</Button>}
            </Group>
          </Stack>
        </Tabs.Panel>
        {object && tabs.map((tab) => (
          <Tabs.Panel key={`${tab.extension}/${tab.id}`} value={`${tab.extension}/${tab.id}`} pt="md">
            <ExtensionComponent extension={tab.extension} load={tab.component} props={{ resource: tab.resource, object: object as never }} />
          </Tabs.Panel>
        ))}
      </Tabs>
    </Stack>
  );
}
