/**
 * Helpers of the bounds-* tests: a real server subprocess whose memory and open files are read
 * from /proc, raw sockets that misbehave (pipeline without reading, stall, sit idle), and a
 * /health probe on a fresh connection. Limits in these tests are generous on purpose: they
 * tell "bounded" from "grows with the abuse" (gigabytes before these limits existed), not
 * one allocator from another.
 */
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { spawnServer, tempDir, type SpawnedServer } from '../helpers/server.js';

/** These tests read /proc/<pid>; elsewhere they are skipped with this reason. */
export const NO_PROC = fs.existsSync('/proc/self/status') ? false : 'needs /proc (Linux) to read the server\'s memory and open files';

export interface BoundsServer extends SpawnedServer {
  port: number;
  pid: number;
  /** Resident memory now, in MiB. */
  rssMb(): number;
  /** Open file descriptors now (sockets and files). */
  fds(): number;
  stop(): Promise<void>;
}

export async function startBoundsServer(env: Record<string, string> = {}): Promise<BoundsServer> {
  // No access log: thousands of abusive requests would only fill the pipe this test reads.
  const server = await spawnServer({ ZIMAGE_DATA_DIR: tempDir('zimage-bounds-'), ZIMAGE_ACCESS_LOG: 'false', ...env });
  const pid = server.child.pid!;
  return Object.assign(server, {
    port: Number(new URL(server.url).port),
    pid,
    rssMb: () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024,
    fds: () => fs.readdirSync(`/proc/${pid}/fd`).length,
    stop: async () => {
      server.child.kill('SIGKILL');
      await server.exited;
    },
  });
}

/** Samples `fn` every `everyMs` while `during` runs; resolves with the largest value seen. */
export async function peakDuring(fn: () => number, during: Promise<unknown>, everyMs = 100): Promise<number> {
  let peak = fn();
  const timer = setInterval(() => { peak = Math.max(peak, fn()); }, everyMs);
  try {
    await during;
  } finally {
    clearInterval(timer);
  }
  return Math.max(peak, fn());
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A raw TCP connection to the server that reads nothing unless asked (its receive window fills up). */
export function rawSocket(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', () => {}); // resets by the server are the point of most tests
    socket.once('error', reject);
  });
}

/** Resolves once the server has closed the socket (or rejects after timeoutMs). */
export function closedByServer(socket: net.Socket, timeoutMs: number): Promise<void> {
  if (socket.destroyed || socket.readableEnded) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not close the connection within ${timeoutMs} ms`)), timeoutMs);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    socket.once('close', done);
    socket.once('end', done);
    socket.resume(); // read (and drop) whatever comes, so 'end' is seen
  });
}

/** GET /health on a new connection (no pooled keep-alive socket): the status code. */
export function healthOnFreshConnection(port: number, timeoutMs = 10_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/health', agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error(`/health did not answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** A complete HTTP/1.1 GET, as pipelining clients write them back to back. */
export const rawGet = (path: string) => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;

/** Reads HTTP/1.1 answers off a socket until `count` complete ones (Content-Length bodies) have arrived. */
export function readAnswers(socket: net.Socket, count: number, timeoutMs: number): Promise<Array<{ status: number; body: Buffer }>> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const answers: Array<{ status: number; body: Buffer }> = [];
    const timer = setTimeout(() => reject(new Error(`only ${answers.length} of ${count} answers within ${timeoutMs} ms`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < end + 4 + length) return;
        answers.push({ status: Number(head.split(' ')[1]), body: buf.subarray(end + 4, end + 4 + length) });
        buf = buf.subarray(end + 4 + length);
        if (answers.length === count) {
          clearTimeout(timer);
          socket.off('data', onData);
          return resolve(answers);
        }
      }
    };
    socket.on('data', onData);
    socket.resume();
  });
}

/** Submits a generation and waits until it is final; the finished task's JSON. */
export async function finishedTask(url: string, body: Record<string, unknown>): Promise<any> {
  const res = await fetch(`${url}/v1/images/async_generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const { task_id } = await res.json() as { task_id: string };
  const done = await fetch(`${url}/v1/images/tasks/${task_id}?wait=60`);
  return done.json();
}
