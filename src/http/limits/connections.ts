/**
 * The HTTP server, with what one client can hold bounded: the number of open connections, the
 * requests one connection may have in flight or queued (pipelining), and how long a client
 * may stall while sending a request or while not reading its answer. Node's own limits
 * (headers, request and keep-alive timeouts, requests per socket) are set here too, since
 * Fastify's defaults leave request bodies without any timeout and idle connections open
 * for 72 s.
 */
import http, { type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface ConnectionLimits {
  /** Open connections at most; past it the longest-idle one is closed, or the new one when none is idle. */
  maxConnections: number;
  /** An idle keep-alive connection is closed after this long. */
  keepAliveMs: number;
  /** A request's headers and body must have arrived within this long (Node answers 408). */
  requestTimeoutMs: number;
  /**
   * A client that sends nothing of a request it has begun, or reads nothing of an answer that
   * is waiting for it, is disconnected after this long. A new connection must have sent its
   * first request's headers within it too.
   */
  stallMs: number;
}

/**
 * Requests of one connection handled at once. HTTP/1.1 answers go out in order, so handling more
 * would only buffer answers (and hold an open file each) behind one the client is not reading.
 */
export const PIPELINE_DEPTH = 1;
/** Pipelined requests that may wait behind those; a client that sends more without reading is cut off. */
export const PIPELINE_BACKLOG = 32;
/** Keep-alive connections are recycled after this many requests (Node then answers "Connection: close"). */
export const MAX_REQUESTS_PER_SOCKET = 1000;

interface Connection {
  /** Dispatched requests whose answers have not gone out yet. */
  active: Set<IncomingMessage>;
  waiting: Array<[IncomingMessage, ServerResponse]>;
  /** Reading paused because requests are waiting. */
  paused: boolean;
  everDispatched: boolean;
  openedAt: number;
  /** Progress marks and since when they have not moved. */
  readMark: number;
  readSince: number;
  writeMark: string;
  writeSince: number;
}

/** libuv's count of bytes it could not hand to the kernel yet: it shrinks with every partial write. */
const unsentInKernelQueue = (socket: Socket): number =>
  (socket as unknown as { _handle?: { writeQueueSize?: number } })._handle?.writeQueueSize ?? socket.writableLength;

/** Whether the socket is reading now (the HTTP parser reads the handle directly; paused when nobody consumes a body). */
const isReading = (socket: Socket): boolean =>
  (socket as unknown as { _handle?: { reading?: boolean } })._handle?.reading ?? !socket.isPaused();

/**
 * A node:http server with these limits, as Fastify's serverFactory: `handler` is Fastify's
 * request handler. A request that must wait (pipelined behind PIPELINE_DEPTH others) is handed
 * to it later, when an earlier answer has been sent, and the socket stops reading meanwhile.
 */
export function createBoundedServer(handler: RequestListener, limits: ConnectionLimits): http.Server {
  const headersTimeout = Math.min(limits.stallMs, limits.requestTimeoutMs);
  const server = http.createServer({
    requestTimeout: limits.requestTimeoutMs,
    headersTimeout,
    keepAliveTimeout: limits.keepAliveMs,
    // Node checks the two timeouts above only this often (30 s by default).
    connectionsCheckingInterval: Math.max(100, Math.min(5000, Math.floor(headersTimeout / 4))),
  });
  server.keepAliveTimeout = limits.keepAliveMs;
  server.maxRequestsPerSocket = MAX_REQUESTS_PER_SOCKET;
  server.timeout = 0; // no blanket inactivity timeout: long polls and sync waits are silent by design
  const connections = new Map<Socket, Connection>();

  const dispatch = (socket: Socket, conn: Connection, req: IncomingMessage, res: ServerResponse) => {
    conn.active.add(req);
    conn.everDispatched = true;
    let done = false;
    const finished = () => {
      if (done) return;
      done = true;
      conn.active.delete(req);
      if (socket.destroyed) {
        conn.waiting.length = 0;
        return;
      }
      const next = conn.waiting.shift();
      if (next) dispatch(socket, conn, ...next);
      else if (conn.paused) {
        conn.paused = false;
        // Node pauses the socket itself while unsent answers pile up; it resumes it then.
        if (!(socket as unknown as { _paused?: boolean })._paused) socket.resume();
      }
    };
    res.once('finish', finished);
    res.once('close', finished);
    handler(req, res);
  };

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    const conn = connections.get(socket);
    if (!conn) return handler(req, res);
    if (socket.destroyed) return;
    if (conn.active.size < PIPELINE_DEPTH) return dispatch(socket, conn, req, res);
    if (conn.waiting.length >= PIPELINE_BACKLOG) {
      socket.destroy();
      return;
    }
    conn.waiting.push([req, res]);
    if (!conn.paused) {
      conn.paused = true;
      socket.pause();
    }
  });

  server.on('connection', (socket: Socket) => {
    const now = Date.now();
    connections.set(socket, {
      active: new Set(), waiting: [], paused: false, everDispatched: false, openedAt: now,
      readMark: socket.bytesRead, readSince: now, writeMark: '', writeSince: now,
    });
    socket.once('close', () => connections.delete(socket));
    if (connections.size > limits.maxConnections && !evictIdle(connections, socket)) socket.destroy();
  });

  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [socket, conn] of connections) {
      if (stalled(socket, conn, now, limits.stallMs, headersTimeout)) socket.destroy();
    }
  }, Math.max(100, Math.min(1000, Math.floor(limits.stallMs / 4))));
  sweep.unref();
  server.once('close', () => clearInterval(sweep));
  return server;
}

/** Closes the connection idle longest (oldest first) other than `except`; false when every other one is busy. */
function evictIdle(connections: Map<Socket, Connection>, except: Socket): boolean {
  for (const [socket, conn] of connections) {
    if (socket !== except && conn.active.size === 0 && conn.waiting.length === 0) {
      socket.destroy();
      connections.delete(socket);
      return true;
    }
  }
  return false;
}

/**
 * Whether a connection has made no progress for too long: no first request in time, a request
 * body that stopped arriving while the server reads it (a body waiting its turn is not read, and
 * does not count), or an answer the client stopped reading (bytes wait in the socket and none leave).
 */
function stalled(socket: Socket, conn: Connection, now: number, stallMs: number, headersTimeout: number): boolean {
  // Silent since it connected. (Once a byte has come, Node's headersTimeout applies and answers 408.)
  if (!conn.everDispatched && socket.bytesRead === 0 && now - conn.openedAt > headersTimeout) return true;
  // The request whose body the parser is on: still being handled, or answered and being drained.
  const parsing = (socket as unknown as { parser?: { incoming?: IncomingMessage | null } }).parser?.incoming;
  const receiving = !!parsing && !parsing.complete && isReading(socket);
  if (!receiving || socket.bytesRead !== conn.readMark) {
    conn.readMark = socket.bytesRead;
    conn.readSince = now;
  } else if (now - conn.readSince > stallMs) {
    return true;
  }
  const waitingToSend = socket.writableLength > 0;
  const mark = `${socket.bytesWritten - socket.writableLength}:${unsentInKernelQueue(socket)}`;
  if (!waitingToSend || mark !== conn.writeMark) {
    conn.writeMark = mark;
    conn.writeSince = now;
  } else if (now - conn.writeSince > stallMs) {
    return true;
  }
  return false;
}
