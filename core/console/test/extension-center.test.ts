import type { RJSFSchema } from '@rjsf/utils';
import { describe, expect, it } from 'vitest';
import { configPatch, versionObjectName } from '../src/pages/extension-center/extension-center-api.js';
import { jsonSchemaValidator } from '../src/pages/extension-center/json-schema-validator.js';

// The configuration form's validator (no eval: the CSP forbids it) and the patch it saves.

const schema: RJSFSchema = {
  type: 'object',
  properties: {
    greeting: { type: 'string', minLength: 2 },
    limits: { type: 'object', properties: { replicas: { type: 'integer', maximum: 3 } } },
  },
  required: ['greeting'],
  additionalProperties: false,
};

describe('configuration form validation', () => {
  it('accepts a valid configuration', () => {
    expect(jsonSchemaValidator.validateFormData({ greeting: 'Hello', limits: { replicas: 2 } }, schema)).toEqual({ errors: [], errorSchema: {} });
    expect(jsonSchemaValidator.isValid(schema, { greeting: 'Hi' }, schema)).toBe(true);
  });

  it('places each error on its field, nested ones included', () => {
    const { errors, errorSchema } = jsonSchemaValidator.validateFormData({ greeting: 5, limits: { replicas: 9 } }, schema);
    expect(errors.map((e) => e.property).sort()).toEqual(['.greeting', '.limits.replicas']);
    expect(errorSchema.greeting?.__errors?.[0]).toMatch(/string/);
    expect((errorSchema.limits as { replicas?: { __errors?: string[] } }).replicas?.__errors?.[0]).toMatch(/3/);
    expect(jsonSchemaValidator.isValid(schema, { greeting: 5 }, schema)).toBe(false);
  });

  it('reports missing and unknown properties on the form itself', () => {
    const { errors } = jsonSchemaValidator.validateFormData({ other: true }, schema);
    expect(errors.map((e) => e.name).sort()).toEqual(['additionalProperties', 'required']);
    expect(errors.every((e) => e.property === '')).toBe(true);
  });

  it('runs a custom validation and applies error transforms', () => {
    const result = jsonSchemaValidator.validateFormData(
      { greeting: 'x' },
      schema,
      (data, errs) => {
        if ((data as { greeting: string }).greeting === 'x') errs.greeting?.addError('not x');
        return errs;
      },
      (errs) => errs.map((e) => ({ ...e, message: `! ${e.message}` })),
    );
    expect(result.errorSchema.greeting?.__errors).toEqual([expect.stringMatching(/^! /), 'not x']);
  });
});

describe('extension center helpers', () => {
  it('saves a changed configuration as a merge patch that removes dropped keys', () => {
    expect(configPatch({ greeting: 'Hi', color: 'red' }, { greeting: 'Yo' })).toEqual({ greeting: 'Yo', color: null });
    expect(configPatch({}, { greeting: 'Yo' })).toEqual({ greeting: 'Yo' });
  });

  it('names ExtensionVersion objects like the core', () => {
    expect(versionObjectName('hello-world', '0.1.0')).toBe('hello-world-0.1.0');
    expect(versionObjectName('Shop', '1.0.0+Build_7')).toBe('shop-1.0.0-build-7');
  });
});
