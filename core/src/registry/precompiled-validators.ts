import type { ValidateFunction } from 'ajv';

// The built-in kinds' validators, compiled when the core is bundled (core/scripts/bundle.mjs puts
// the generated module in this one's place, named by `precompiledName`): a start of the bundle
// compiles no schema for the objects it seeds. tsc's output, which the tests import, has none and
// compiles each schema at its first use, with the same ajv options.
export const precompiledValidators: Readonly<Record<string, ValidateFunction>> = {};
