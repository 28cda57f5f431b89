/** The typed Z-Image Server client: `new ZImageClient({ url, apiKey })`. */
export { DEFAULT_URL, ZImageClient } from './client.js';
export type { CallOptions, ClientOptions, SubmitOptions, WaitOptions } from './client.js';
export { AbortedError, ApiResponseError, ServerUnreachableError, ZImageError } from './errors.js';
export type * from './types.js';
