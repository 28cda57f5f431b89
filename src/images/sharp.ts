/**
 * sharp, configured once for a server. Its operation cache (on by default, up to 50 MB)
 * only helps when the same input is processed again, which never happens here: every
 * upload and every output is new. Turning it off keeps RSS flat and lower.
 */
import sharp from 'sharp';

sharp.cache(false);

export default sharp;
