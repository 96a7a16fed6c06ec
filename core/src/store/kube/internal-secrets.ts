// The core's internal kinds (signing keys, refresh tokens, login records, ...) in a cluster: no
// CRD (nobody else should read them), one Secret each in the core's namespace, the object as
// JSON in `data.object`, the kind in a label so a list is one labelled list of Secrets.
import { createHash } from 'node:crypto';
import type { KubeObject, ObjectKey, ResourceRef } from '../resource-store.js';

export const internalKindLabel = 'mortise.io/internal-kind';
export const internalSecretType = 'mortise.io/internal';

const dnsName = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export class InternalSecrets {
  constructor(readonly namespace: string) {}

  /** The Secret's name: readable when the object's name is a DNS label, a digest otherwise. */
  secretName(key: ObjectKey): string {
    const plain = `${key.resource}-${key.namespace ? `${key.namespace}-` : ''}${key.name}`;
    if (dnsName.test(key.name) && (!key.namespace || dnsName.test(key.namespace)) && plain.length <= 200) return plain;
    return `${key.resource}-h${createHash('sha256').update(`${key.namespace}/${key.name}`).digest('hex').slice(0, 40)}`;
  }

  collectionPath(): string {
    return `/api/v1/namespaces/${this.namespace}/secrets`;
  }

  path(key: ObjectKey): string {
    return `${this.collectionPath()}/${this.secretName(key)}`;
  }

  listPath(ref: ResourceRef): string {
    return `${this.collectionPath()}?labelSelector=${encodeURIComponent(`${internalKindLabel}=${ref.resource}`)}`;
  }

  wrap(key: ObjectKey, obj: KubeObject): KubeObject {
    const { resourceVersion: _rv, ...meta } = obj.metadata;
    return {
      apiVersion: 'v1', kind: 'Secret', type: internalSecretType,
      metadata: { name: this.secretName(key), namespace: this.namespace, labels: { [internalKindLabel]: key.resource } },
      data: { object: Buffer.from(JSON.stringify({ ...obj, metadata: meta })).toString('base64') },
    };
  }

  /** The stored object, with the Secret's resourceVersion (the one conflicts are checked against). */
  unwrap(secret: KubeObject): KubeObject {
    const data = (secret.data as { object?: string } | undefined)?.object;
    const obj = JSON.parse(Buffer.from(data ?? 'e30=', 'base64').toString('utf8')) as KubeObject;
    obj.metadata = { ...obj.metadata, resourceVersion: secret.metadata.resourceVersion };
    if (secret.metadata.deletionTimestamp) obj.metadata.deletionTimestamp = secret.metadata.deletionTimestamp;
    return obj;
  }
}
