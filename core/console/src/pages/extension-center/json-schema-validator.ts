import { Validator, type OutputUnit, type Schema } from '@cfworker/json-schema';
import {
  createErrorHandler, ErrorSchemaBuilder, unwrapErrorHandler, validationDataMerge,
  type CustomValidator, type ErrorTransformer, type RJSFSchema, type RJSFValidationError, type UiSchema, type ValidationData, type ValidatorType,
} from '@rjsf/utils';

// The configuration form's validator. The usual one (@rjsf/validator-ajv8) compiles schemas
// into functions with `new Function`, which the console's Content-Security-Policy forbids
// (script-src 'self', no 'unsafe-eval'); @cfworker/json-schema interprets the schema instead.

/**
 * Keywords that only say "something below failed" (their children carry the real message), and
 * `false` ("False boolean schema"), whose parent (`additionalProperties: false`) says it better.
 */
const wrappers = new Set(['false', 'properties', 'items', 'prefixItems', 'allOf', '$ref', 'dependentSchemas', 'dependencies', 'then', 'else', 'if', 'contains', 'unevaluatedItems']);

/** `#/a/0/b` → ['a', '0', 'b'] (JSON Pointer, unescaped). */
function pointerPath(location: string): string[] {
  return location.replace(/^#\/?/, '').split('/').filter((s) => s !== '').map((s) => decodeURIComponent(s).replace(/~1/g, '/').replace(/~0/g, '~'));
}

function toRjsfErrors(units: OutputUnit[]): RJSFValidationError[] {
  return units
    .filter((u) => !wrappers.has(u.keyword))
    .map((u) => {
      const path = pointerPath(u.instanceLocation);
      const property = path.length ? `.${path.join('.')}` : '';
      return { name: u.keyword, property, message: u.error, params: {}, schemaPath: u.keywordLocation, stack: `${property || '/'} ${u.error}`.trim() };
    });
}

/** The schema with the root's definitions, so `$ref`s into them resolve. */
function withDefinitions(schema: RJSFSchema, root: RJSFSchema | undefined): Schema {
  if (!root || root === schema) return schema as Schema;
  return { ...(schema as Schema), ...(root.definitions ? { definitions: root.definitions } : {}), ...(root.$defs ? { $defs: root.$defs } : {}) } as Schema;
}

export const jsonSchemaValidator: ValidatorType = {
  rawValidation<Result = OutputUnit>(schema: RJSFSchema, formData?: unknown) {
    try {
      const result = new Validator(schema as Schema, '2020-12', false).validate(formData);
      return { errors: result.valid ? undefined : (result.errors as Result[]) };
    } catch (e) {
      return { validationError: e as Error };
    }
  },

  isValid(schema: RJSFSchema, formData: unknown, rootSchema: RJSFSchema) {
    try {
      return new Validator(withDefinitions(schema, rootSchema), '2020-12', true).validate(formData).valid;
    } catch {
      return false;
    }
  },

  validateFormData(formData: unknown, schema: RJSFSchema, customValidate?: CustomValidator, transformErrors?: ErrorTransformer, uiSchema?: UiSchema): ValidationData<unknown> {
    const raw = this.rawValidation<OutputUnit>(schema, formData);
    let errors = raw.validationError
      ? [{ name: 'schema', property: '', message: raw.validationError.message, stack: raw.validationError.message }]
      : toRjsfErrors(raw.errors ?? []);
    if (transformErrors) errors = transformErrors(errors, uiSchema);
    const builder = new ErrorSchemaBuilder();
    for (const e of errors) builder.addErrors(e.message ?? e.stack, e.property ? e.property.replace(/^\./, '').split('.') : undefined);
    const data = { errors, errorSchema: builder.ErrorSchema };
    if (!customValidate) return data;
    const custom = unwrapErrorHandler(customValidate(formData, createErrorHandler(formData), uiSchema));
    return validationDataMerge(data, custom);
  },
};
