/**
 * Errors that Node's HTTP server and Fastify's router answer before any route or error
 * handler runs: unparseable requests (Node's own 400s), oversized headers (431), a slow
 * request (408), an `Expect` the server cannot meet (417), HTTP/1.1 without a Host, and URLs
 * whose percent-escapes do not decode. Each answers in the one error shape,
 * {"error": {"message", "type", "code", "param"}}, instead of Node's empty body or Fastify's
 * {"error": "Bad Request", "statusCode": 400}.
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../errors.js';
import { errorBody, sendError, toApiError } from './errors.js';

type ParserError = Error & { code?: string; reason?: string };

/** Node's HTTP parser errors (HPE_*) and timeouts, as what the client should do about them. */
export function clientErrorAnswer(err: ParserError, maxHeaderBytes = http.maxHeaderSize): ApiError {
  const reason = err.reason ?? err.message;
  switch (err.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new ApiError(408, 'request_timeout', 'The request did not arrive in time. Send the whole request promptly (headers and body).');
    case 'HPE_HEADER_OVERFLOW':
      return new ApiError(431, 'headers_too_large',
        `The request's headers, the URL included, are larger than the ${Math.round(maxHeaderBytes / 1024)} KiB this server reads. Send shorter headers or a shorter URL.`);
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return new ApiError(413, 'request_too_large', 'The chunked body carries too many chunk extensions. Send plain chunks or a Content-Length body.');
    case 'HPE_INVALID_METHOD':
      return new ApiError(400, 'invalid_method', 'The HTTP method is not one this server knows. The API uses GET, POST and DELETE; see GET /openapi.json.');
    case 'HPE_INVALID_CONTENT_LENGTH':
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
      return new ApiError(400, 'invalid_content_length',
        'Content-Length must be one number, and not sent together with Transfer-Encoding. Let your HTTP client set it.');
    case 'HPE_INVALID_TRANSFER_ENCODING':
    case 'HPE_INVALID_CHUNK_SIZE':
      return new ApiError(400, 'invalid_body_encoding', `The chunked body could not be read (${reason}). Send a valid chunked body or a Content-Length body.`);
    default:
      return new ApiError(400, 'malformed_request',
        `The request is not valid HTTP/1.1 (${reason}). Check the client, or the proxy in front of this server, that sent it.`);
  }
}

/** Raw bytes of one complete HTTP/1.1 answer: for the places where Node hands over only the socket. */
function rawAnswer(err: ApiError): string {
  const body = JSON.stringify(errorBody(err));
  return `HTTP/1.1 ${err.statusCode} ${http.STATUS_CODES[err.statusCode]}\r\n` +
    `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

/**
 * Fastify's `clientErrorHandler` option (Node's 'clientError' event). A reset by the client is
 * its going away, not an error, and is not answered or logged above debug. An answer is written
 * only when no other answer has begun on the socket (as Node does), then the socket is closed.
 */
export function clientErrorHandler(this: FastifyInstance, err: ParserError, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) {
    this.log.debug({ code: err.code }, 'client went away');
    return;
  }
  const answer = clientErrorAnswer(err);
  this.log.debug({ code: err.code, status: answer.statusCode }, `client error: ${answer.message}`);
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (socket.writable && !inFlight?.headersSent) socket.write(rawAnswer(answer));
  socket.destroy();
}

/**
 * Fastify's `frameworkErrors` option: errors found before routing (a URL whose percent-escapes
 * do not decode, an over-long path parameter) answer in our shape, not Fastify's.
 */
export function frameworkErrors(err: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const apiErr = toApiError(err);
  request.log.info({ code: apiErr.code, status: apiErr.statusCode }, apiErr.message);
  return sendError(reply, apiErr);
}

/** Spread into the Fastify options: both hooks exist only there. */
export const errorShapeOptions = { frameworkErrors, clientErrorHandler };

/**
 * The two answers Node's server writes by itself unless told otherwise: 417 for an `Expect`
 * other than 100-continue, and 400 for HTTP/1.1 without Host. Both then answer in our shape.
 */
export function installClientErrors(app: FastifyInstance): void {
  app.server.on('checkExpectation', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const err = new ApiError(417, 'expectation_failed',
      `This server cannot meet "Expect: ${String(req.headers.expect).slice(0, 100)}". Send the request without an Expect header (or with "Expect: 100-continue").`,
      'Expect');
    const body = JSON.stringify(errorBody(err));
    res.writeHead(417, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' });
    res.end(body);
  });
  // Node answers an empty 400 itself when this is on; the hook below answers it in our shape.
  (app.server as http.Server & { requireHostHeader: boolean }).requireHostHeader = false; // read per request (lib/_http_server.js)
  app.addHook('onRequest', async (request, reply) => {
    if (request.raw.httpVersion === '1.1' && request.headers.host === undefined) {
      reply.header('connection', 'close');
      return sendError(reply, new ApiError(400, 'missing_host',
        'HTTP/1.1 requests must name the server in a Host header (RFC 9112). Send one, e.g. "Host: localhost:8003"; HTTP clients add it themselves.',
        'Host'));
    }
  });
}
