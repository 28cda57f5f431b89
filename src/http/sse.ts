/**
 * The headers every Server-Sent Events answer sends: no caching or transforming proxies, and
 * no buffering (nginx's X-Accel-Buffering), so each event reaches the client as it is written.
 */
export const SSE_HEADERS = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache, no-transform',
  Connection: 'keep-alive',
  'X-Accel-Buffering': 'no',
} as const;
