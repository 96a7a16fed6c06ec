import { latestEntry, type IndexEntry, type LocalizedText, type RepositoryIndex } from '@mortise/extension-sdk';

/** Match tiers, best first: exact name > name prefix > keyword > display text. */
export const MATCH_SCORES = {
  exactName: 100,
  namePrefix: 80,
  exactKeyword: 60,
  keywordPrefix: 50,
  text: 20,
} as const;

interface Document {
  entry: IndexEntry;
  name: string;
  keywords: string[];
  /** Display names, descriptions (every language), provider and name, lowercased. */
  text: string;
}

export interface SearchQuery {
  q?: string;
  category?: string;
  keyword?: string;
}

export interface SearchHit {
  entry: IndexEntry;
  score: number;
}

/**
 * An in-memory index of each extension's newest installable (not yanked) version, rebuilt
 * whenever the repository index changes. Extensions whose every version is yanked are not
 * offered.
 */
export class SearchIndex {
  private readonly documents: Document[];

  constructor(index: RepositoryIndex) {
    this.documents = Object.keys(index.entries)
      .map((name) => latestEntry(index, name))
      .filter((entry): entry is IndexEntry => entry !== undefined)
      .map(toDocument);
  }

  /** Matching extensions, best first; ties go to `popularity` (higher first), then name. */
  search(query: SearchQuery, popularity: (name: string) => number = () => 0): SearchHit[] {
    const q = normalize(query.q ?? '');
    const category = query.category?.trim();
    const keyword = query.keyword === undefined ? undefined : normalize(query.keyword);
    const hits: SearchHit[] = [];
    for (const doc of this.documents) {
      if (category && doc.entry.category !== category) continue;
      if (keyword && !doc.keywords.includes(keyword)) continue;
      const score = q === '' ? 0 : scoreQuery(doc, q);
      if (q !== '' && score === 0) continue;
      hits.push({ entry: doc.entry, score });
    }
    return hits.sort(
      (a, b) => b.score - a.score || popularity(b.entry.name) - popularity(a.entry.name) || a.entry.name.localeCompare(b.entry.name),
    );
  }

  /** Category → number of extensions offered in it. */
  categoryCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const doc of this.documents) counts.set(doc.entry.category, (counts.get(doc.entry.category) ?? 0) + 1);
    return counts;
  }
}

/** The whole query's tier; failing that, a multi-word query matches when every word does. */
function scoreQuery(doc: Document, q: string): number {
  const whole = scoreTerm(doc, q);
  if (whole > 0) return whole;
  const terms = q.split(/\s+/).filter(Boolean);
  if (terms.length < 2) return 0;
  const scores = terms.map((t) => scoreTerm(doc, t));
  return scores.every((s) => s > 0) ? Math.min(...scores) : 0;
}

function scoreTerm(doc: Document, term: string): number {
  if (doc.name === term) return MATCH_SCORES.exactName;
  if (doc.name.startsWith(term)) return MATCH_SCORES.namePrefix;
  if (doc.keywords.includes(term)) return MATCH_SCORES.exactKeyword;
  if (doc.keywords.some((k) => k.startsWith(term))) return MATCH_SCORES.keywordPrefix;
  if (doc.text.includes(term)) return MATCH_SCORES.text;
  return 0;
}

function toDocument(entry: IndexEntry): Document {
  return {
    entry,
    name: entry.name,
    keywords: entry.keywords.map(normalize),
    text: normalize([entry.name, ...texts(entry.displayName), ...texts(entry.description), entry.provider.name].join('\n')),
  };
}

function texts(value: LocalizedText): string[] {
  return typeof value === 'string' ? [value] : Object.values(value);
}

function normalize(value: string): string {
  return value.normalize('NFKC').toLowerCase().trim();
}
