/**
 * The playground's Content-Security-Policy: everything from this server, no inline script or
 * style, nothing from a CDN. Images may also come from where /outputs/ links lead: the public
 * URL (ZIMAGE_PUBLIC_URL, when the page is opened under another address) and, with
 * ZIMAGE_OUTPUTS_REDIRECT, the S3 host its presigned URLs name.
 */
import type { Config } from '../config.js';
import { isS3Url, parseS3Url } from '../storage/s3Url.js';

const originOf = (url: string): string | undefined => {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
};

/** Hosts a presigned URL may name: path style (endpoint/bucket/key) or virtual-hosted (bucket.endpoint/key). */
function presignedOrigins(config: Config): string[] {
  if (!config.outputsRedirect || !isS3Url(config.storage)) return [];
  const { bucket } = parseS3Url(config.storage);
  if (config.s3Endpoint) {
    const endpoint = new URL(config.s3Endpoint);
    const origins = [endpoint.origin];
    if (!config.s3ForcePathStyle) origins.push(`${endpoint.protocol}//${bucket}.${endpoint.host}`);
    return origins;
  }
  return [`https://${bucket}.s3.${config.s3Region}.amazonaws.com`, `https://s3.${config.s3Region}.amazonaws.com`];
}

/** Origins besides 'self' that images (and the bytes fetched for "Edit this image") come from. */
export function imageOrigins(config: Config): string[] {
  const origins = [config.publicUrl ? originOf(config.publicUrl) : undefined, ...presignedOrigins(config)];
  return [...new Set(origins.filter((o): o is string => o !== undefined))];
}

export function contentSecurityPolicy(config: Config): string {
  const extra = imageOrigins(config);
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    ['img-src', "'self'", 'data:', 'blob:', ...extra].join(' '),
    ['connect-src', "'self'", ...extra].join(' '),
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}
