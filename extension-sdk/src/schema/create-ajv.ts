import { Ajv, type Options } from 'ajv';
import formatsModule from 'ajv-formats';

// ajv-formats is CommonJS; under NodeNext its default import is the module object.
const addFormats = formatsModule.default;

/** An ajv instance configured the way the SDK's schemas expect. */
export function createAjv(options: Options = {}): Ajv {
  const ajv = new Ajv({ allErrors: true, allowUnionTypes: true, verbose: true, ...options });
  addFormats(ajv);
  return ajv;
}
