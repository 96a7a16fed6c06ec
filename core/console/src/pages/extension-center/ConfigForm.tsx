import Form from '@rjsf/mantine';
import type { RJSFSchema } from '@rjsf/utils';
import { useEffect, useState } from 'react';
import { jsonSchemaValidator } from './json-schema-validator.js';

/**
 * A form generated from an extension's configuration JSON Schema (its manifest's
 * `configSchema`) by react-jsonschema-form with its Mantine theme — the console's component
 * library. Checked in the browser as the user types; the core checks it again when it installs.
 */
export function ConfigForm({ schema, value, submitLabel, busy, onSubmit }: {
  schema: RJSFSchema;
  value: Record<string, unknown>;
  submitLabel: string;
  busy?: boolean;
  onSubmit: (config: Record<string, unknown>) => void;
}) {
  const [data, setData] = useState(value);
  const key = JSON.stringify(value);
  useEffect(() => setData(value), [key]); // eslint-disable-line react-hooks/exhaustive-deps
  return (
    <div data-testid="config-form">
      <Form
        schema={schema}
        formData={data}
        validator={jsonSchemaValidator}
        liveValidate="onChange"
        showErrorList={false}
        disabled={busy}
        onChange={(e) => setData(e.formData as Record<string, unknown>)}
        onSubmit={(e) => onSubmit((e.formData ?? {}) as Record<string, unknown>)}
        uiSchema={{ 'ui:submitButtonOptions': { submitText: submitLabel } }}
      />
    </div>
  );
}
