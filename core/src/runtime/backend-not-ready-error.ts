import type { BackendStatus } from './runtime.js';

/** Why `waitReady` gave up, with the backend's status at that moment. */
export class BackendNotReadyError extends Error {
  constructor(message: string, readonly status?: BackendStatus) {
    super(message);
    this.name = 'BackendNotReadyError';
  }
}
