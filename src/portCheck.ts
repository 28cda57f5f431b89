/**
 * Listening problems as one clear sentence. `zimage serve` checks its port before it opens the
 * data directory, the database or the engine, so a port already in use costs nothing and
 * leaves nothing behind (no data directory, no database file); the same error also covers the
 * rare race where another program takes the port between that check and the real listen.
 */
import net from 'node:net';

export class ListenError extends Error {
  constructor(message: string, readonly code: string) {
    super(message);
    this.name = 'ListenError';
  }
}

const where = (host: string, port: number) => `${host.includes(':') ? `[${host}]` : host}:${port}`;

/** The ListenError for a failed listen, or undefined for an error that is not about the address. */
export function listenErrorOf(err: unknown, host: string, port: number): ListenError | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const at = where(host, port);
  switch (code) {
    case 'EADDRINUSE':
      return new ListenError(`port ${port} is already in use on ${host} (another zimage server, or another program). `
        + `Stop it, or choose another port: PORT=${port === 8003 ? 8004 : port + 1} or --port ${port === 8003 ? 8004 : port + 1}.`, code);
    case 'EACCES':
      return new ListenError(`not allowed to listen on ${at}: ports below 1024 need privileges. `
        + 'Use a port of 1024 or more (PORT / --port), and a reverse proxy for port 80 or 443.', code);
    case 'EADDRNOTAVAIL':
      return new ListenError(`cannot listen on ${at}: ${host} is not an address of this machine. `
        + 'Set HOST (or --host) to one of its addresses, 127.0.0.1 for this machine only, or 0.0.0.0 for every interface.', code);
    default:
      return undefined;
  }
}

/** Binds and releases the port once; throws ListenError when the server could not listen there. Port 0 (any free port) always can. */
export async function checkPortFree(host: string, port: number): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = net.createServer();
    probe.unref();
    probe.once('error', (err) => reject(listenErrorOf(err, host, port) ?? err));
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve()));
  });
}
