// Everything the SDK offers, for compatibility. Code that runs in a server imports the narrowest
// subpath instead (`/backend`, `/runtime`, `/manifest`, `/package`, `/repository`, `/util`): this
// root also loads the mortise-ext CLI (commander) and the packing and publishing code (README
// "Entry points").
export * from './manifest/index.js';
export * from './package/index.js';
export * from './repository/index.js';
export * from './cli/index.js';
export * from './util/index.js';
export * from './backend/index.js';
