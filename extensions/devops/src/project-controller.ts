import { CoreApiError, type CoreClient } from '@mortise/extension-sdk/backend';

// A DevOpsProject (cluster-scoped) owns a namespace in its workspace, where its pipelines,
// runs and credentials live. Its workspace is its `tenant.mortise.io/workspace` label, which
// the core authorizes (putting a project into a workspace needs `create devopsprojects`
// there), so the backend never creates a namespace in a workspace its caller could not use.
// The namespace carries an ownerReference to the project and the label devops.mortise.io/project.
// It also belongs to its Workspace (the core adds that ownerReference), so the garbage collector
// alone would keep it when the project goes: the backend deletes it — when the project is
// deleted, at start for projects deleted while it was down, and when the extension is being
// uninstalled (the backend is stopped before the CRDs and projects are deleted).

export const workspaceLabel = 'tenant.mortise.io/workspace';
export const projectLabel = 'devops.mortise.io/project';
const projectsPath = '/apis/devops.mortise.io/v1alpha1/devopsprojects';

export interface Project {
  metadata: { name: string; uid?: string; labels?: Record<string, string>; deletionTimestamp?: string };
  spec?: { namespace?: string; description?: string };
  status?: { phase?: string; namespace?: string; message?: string };
}

interface Namespace { metadata: { name: string; ownerReferences?: Array<{ uid: string }> } }

export async function syncProject(core: CoreClient, p: Project): Promise<void> {
  if (p.metadata.deletionTimestamp) return;
  const ns = p.spec?.namespace ?? p.metadata.name;
  const workspace = p.metadata.labels?.[workspaceLabel];
  const report = async (phase: 'Ready' | 'Failed', message: string) => {
    if (p.status?.phase === phase && p.status.message === message && p.status.namespace === ns) return;
    await core.patch(`${projectsPath}/${p.metadata.name}/status`, { status: { phase, namespace: ns, message } });
  };
  if (!workspace) return report('Failed', `label the project with ${workspaceLabel}: <workspace> to say which workspace its namespace belongs to`);
  let existing: Namespace | undefined;
  try {
    existing = await core.get<Namespace>(`/api/v1/namespaces/${ns}`);
  } catch (e) {
    if (!(e instanceof CoreApiError && e.reason === 'NotFound')) throw e;
  }
  if (existing) {
    if (!existing.metadata.ownerReferences?.some((o) => o.uid === p.metadata.uid)) {
      return report('Failed', `the namespace ${ns} already exists and is not this project's`);
    }
    return report('Ready', `namespace ${ns} in workspace ${workspace}`);
  }
  try {
    await core.post('/api/v1/namespaces', {
      apiVersion: 'v1', kind: 'Namespace',
      metadata: {
        name: ns, labels: { [workspaceLabel]: workspace, [projectLabel]: p.metadata.name },
        ownerReferences: [{ apiVersion: 'devops.mortise.io/v1alpha1', kind: 'DevOpsProject', name: p.metadata.name, uid: p.metadata.uid, controller: true, blockOwnerDeletion: true }],
      },
    });
  } catch (e) {
    return report('Failed', `the namespace ${ns} could not be created: ${(e as Error).message}`);
  }
  return report('Ready', `namespace ${ns} in workspace ${workspace}`);
}

/** Deletes the namespaces of projects that no longer exist (`existing`: names of the projects there are). */
export async function deleteOrphanNamespaces(core: CoreClient, existing: Set<string>): Promise<void> {
  const { items } = await core.get<{ items: Array<Namespace & { metadata: { labels?: Record<string, string>; deletionTimestamp?: string } }> }>('/api/v1/namespaces', { query: { labelSelector: projectLabel } });
  for (const ns of items) {
    const project = ns.metadata.labels?.[projectLabel];
    if (!project || existing.has(project) || ns.metadata.deletionTimestamp) continue;
    await core.delete(`/api/v1/namespaces/${ns.metadata.name}`).catch((e: unknown) => {
      if (!(e instanceof CoreApiError && e.reason === 'NotFound')) throw e;
    });
  }
}

/** Whether the extension is being uninstalled (its InstallPlan is being deleted), as opposed to disabled, reconfigured or upgraded. */
export async function uninstalling(core: CoreClient, extension: string): Promise<boolean> {
  try {
    const plan = await core.get<{ metadata: { deletionTimestamp?: string } }>(`/apis/extensions.mortise.io/v1alpha1/installplans/${extension}`);
    return !!plan.metadata.deletionTimestamp;
  } catch (e) {
    return e instanceof CoreApiError && e.reason === 'NotFound';
  }
}
