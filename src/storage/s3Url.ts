/**
 * `s3://bucket/prefix`, parsed without the AWS SDK so that loading the configuration stays
 * cheap. Shared by loadConfig (to refuse a bad URL at start) and S3Storage.
 */
const BUCKET_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const PREFIX_RE = /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/;

export const isS3Url = (value: string): boolean => value.startsWith('s3://');

/** Bucket and key prefix ("" or ending in "/"); throws with what a valid URL looks like. */
export function parseS3Url(url: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/]*)\/?(.*)$/.exec(url);
  const bucket = m?.[1] ?? '';
  const prefix = (m?.[2] ?? '').replace(/\/+$/, '');
  if (!BUCKET_RE.test(bucket)) {
    throw new Error(`"${url}" does not name a valid bucket: use s3://BUCKET or s3://BUCKET/PREFIX, where BUCKET is 3-63 lowercase letters, digits, dots or hyphens`);
  }
  if (prefix && (!PREFIX_RE.test(prefix) || prefix.split('/').some((s) => s === '.' || s === '..'))) {
    throw new Error(`"${url}" has an unusable prefix "${prefix}": use path segments of letters, digits, "_", "." and "-" separated by "/"`);
  }
  return { bucket, prefix: prefix ? `${prefix}/` : '' };
}
