// A Pipeline's parameters and the values a run gets: shared by the backend (which refuses a run
// with a bad value) and the console's Run form (which checks before it submits).

export interface ParameterDefinition {
  name: string;
  /** `string` (default), `boolean` ("true"/"false") or `choice` (one of `choices`). */
  type?: 'string' | 'boolean' | 'choice';
  default?: string;
  choices?: string[];
  description?: string;
}

export interface ParameterProblem { field: string; message: string }

/** The value a parameter starts with: its default, else "false" for a boolean and the first choice for a choice. */
export function initialValue(p: ParameterDefinition): string {
  if (p.default !== undefined) return p.default;
  if (p.type === 'boolean') return 'false';
  if (p.type === 'choice') return p.choices?.[0] ?? '';
  return '';
}

/**
 * The run's values: every declared parameter (given, or its initial value) plus any other given
 * value as it is (a webhook adds GIT_REF and GIT_COMMIT); problems name `parameters.<name>`.
 */
export function resolveParameters(defs: ParameterDefinition[], given: Record<string, string>): { values: Record<string, string>; problems: ParameterProblem[] } {
  const values: Record<string, string> = { ...given };
  const problems: ParameterProblem[] = [];
  for (const p of defs) {
    const v = Object.hasOwn(given, p.name) ? given[p.name]! : initialValue(p);
    values[p.name] = v;
    const field = `parameters.${p.name}`;
    if (p.type === 'boolean' && v !== 'true' && v !== 'false') problems.push({ field, message: `Invalid value: ${JSON.stringify(v)}: a boolean parameter is "true" or "false"` });
    if (p.type === 'choice') {
      if (!p.choices?.length) problems.push({ field, message: 'the Pipeline declares no choices for this parameter' });
      else if (!p.choices.includes(v)) problems.push({ field, message: `Unsupported value: ${JSON.stringify(v)}: supported values: ${p.choices.map((c) => JSON.stringify(c)).join(', ')}` });
    }
  }
  return { values, problems };
}
