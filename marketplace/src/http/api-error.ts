/** An error answered as `{ error: { code, message, details? } }` with an HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export const notFound = (message: string) => new ApiError(404, 'NotFound', message);
export const badRequest = (message: string, details?: unknown) => new ApiError(400, 'BadRequest', message, details);
