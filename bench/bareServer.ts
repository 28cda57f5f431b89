/**
 * Child-process entry: the baseline for poll throughput. A bare node:http server that
 * answers every request with the same JSON bytes the real server sent for a task poll,
 * with the same content type and keep-alive timeout (Fastify's default, 72 s).
 * argv[2]: the body, base64. Calls: cpu, close.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { announceReady, cpuMs, serveCalls } from './ipc.js';

const body = Buffer.from(process.argv[2] ?? '', 'base64');
const headers = { 'content-type': 'application/json; charset=utf-8', 'content-length': String(body.length) };

const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, headers);
    res.end(body);
  });
});
server.keepAliveTimeout = 72_000;
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  announceReady({ url: `http://127.0.0.1:${port}`, pid: process.pid });
});

serveCalls({
  cpu: () => cpuMs(),
  close: () => new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  }),
});
