import type { JSONSchema, KindDefinition, PrinterColumn, ResourceStrategy } from '../registry/kind.js';

export interface KindSpec {
  group: string;
  version: string;
  kind: string;
  plural?: string;
  namespaced?: boolean;
  shortNames?: string[];
  categories?: string[];
  schema: JSONSchema;
  status?: boolean;
  printerColumns?: PrinterColumn[];
  strategy?: ResourceStrategy;
}

/** Fills in the names Kubernetes derives from the kind. */
export function defineKind(s: KindSpec): KindDefinition {
  const singular = s.kind.toLowerCase();
  return {
    group: s.group,
    version: s.version,
    kind: s.kind,
    listKind: `${s.kind}List`,
    plural: s.plural ?? pluralize(singular),
    singular,
    shortNames: s.shortNames,
    categories: s.categories ?? ['mortise'],
    namespaced: s.namespaced ?? false,
    schema: s.schema,
    subresources: { status: s.status ?? false },
    printerColumns: s.printerColumns,
    strategy: s.strategy,
    source: 'builtin',
  };
}

function pluralize(word: string): string {
  if (/(s|x|z|ch|sh)$/.test(word)) return `${word}es`;
  if (/[^aeiou]y$/.test(word)) return `${word.slice(0, -1)}ies`;
  return `${word}s`;
}
