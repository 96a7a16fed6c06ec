// `@mortise/extension-sdk/cli`: the mortise-ext CLI and its commands, as functions.
export { runCli } from './run-cli.js';
export type { CliIO } from './io.js';
export { validateCommand } from './commands/validate.js';
export { packCommand, type PackCommandOptions } from './commands/pack.js';
export { keygenCommand, type KeygenCommandOptions } from './commands/keygen.js';
export { publishCommand, type PublishCommandOptions } from './commands/publish.js';
