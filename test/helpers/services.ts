/**
 * Real PostgreSQL and Redis servers for tests (no mocks, no docker): each start gets a fresh
 * temp directory and a free loopback port, and close() stops the server and deletes the
 * directory. The binaries come from the machine (Debian packages; .ci/run installs them).
 *
 * PostgreSQL refuses to run as root, so as root it runs as the `postgres` OS user, owning
 * its directories. initdb takes seconds, so it runs once per machine and PG version into a
 * template under os.tmpdir(); each start copies the template (a fraction of a second).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';

export interface Service {
  url: string;
  close(): Promise<void>;
}

export interface RedisService extends Service {
  port: number;
  /**
   * SIGKILLs the server and starts it again on the same port, as after a crash. With flush
   * (the default) it comes back empty: its data files are deleted first.
   */
  restart(opts?: { flush?: boolean }): Promise<void>;
}

export interface RedisOptions {
  /** Append-only file with fsync on every write, so restart({ flush: false }) keeps the data. */
  persistence?: boolean;
}

// ---- finding binaries ----

const isExecutable = (file: string) => {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
};

const pathDirs = () => (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);

/** Debian keeps initdb and postgres off PATH, under /usr/lib/postgresql/<major>/bin: newest first. */
function postgresBinDirs(): string[] {
  const root = '/usr/lib/postgresql';
  let versions: string[] = [];
  try {
    versions = fs.readdirSync(root).filter((v) => /^\d+(\.\d+)?$/.test(v)).sort((a, b) => Number(b) - Number(a));
  } catch { /* not a Debian layout */ }
  const dirs = [process.env.ZIMAGE_TEST_PG_BIN ?? '', ...pathDirs(), ...versions.map((v) => path.join(root, v, 'bin'))];
  return dirs.filter(Boolean);
}

/** The directory holding both initdb and postgres (PATH may link to them: resolve to one install). */
function findPostgresBin(): string | undefined {
  for (const dir of postgresBinDirs()) {
    const initdb = path.join(dir, 'initdb');
    if (!isExecutable(initdb) || !isExecutable(path.join(dir, 'postgres'))) continue;
    return path.dirname(fs.realpathSync(initdb));
  }
  return undefined;
}

const findOnPath = (name: string) => pathDirs().map((d) => path.join(d, name)).find(isExecutable);

const isRoot = () => process.getuid?.() === 0;

/** As root, PostgreSQL runs as this user: uid and gid, or undefined when there is none. */
function postgresUser(): { uid: number; gid: number } | undefined {
  const id = (flag: string) => spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
  const u = id('-u');
  const g = id('-g');
  if (u.status !== 0 || g.status !== 0) return undefined;
  return { uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()) };
}

/** What is missing to start the test services, as sentences; empty when all is there. */
export function missingServices(): string[] {
  const missing: string[] = [];
  const install = 'install it (Debian: apt-get install -y postgresql redis-server; .ci/run does this)';
  if (!findPostgresBin()) missing.push(`PostgreSQL: no initdb and postgres in PATH or /usr/lib/postgresql/*/bin (or ZIMAGE_TEST_PG_BIN); ${install}`);
  else if (isRoot() && !postgresUser()) missing.push('PostgreSQL refuses to run as root and there is no `postgres` OS user to run it as; create one (useradd -r postgres) or run the tests as another user');
  if (!findOnPath('redis-server')) missing.push(`Redis: no redis-server in PATH; ${install}`);
  return missing;
}

/** Throws, saying what is missing and how to install it: tests that need the services fail loudly, never skip. */
export function ensureServicesAvailable(): void {
  const missing = missingServices();
  if (missing.length) throw new Error(`the tests need real PostgreSQL and Redis servers:\n  - ${missing.join('\n  - ')}`);
}

// ---- shared plumbing ----

/** A port free right now (bound on 0, then released); a start that loses the race retries with another. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Children still running when the test process exits are killed, so no server outlives its test file. */
const live = new Set<ChildProcess>();
const tempDirs = new Set<string>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

interface Running {
  child: ChildProcess;
  exited: Promise<void>;
  /** The server's recent output, for the error message of a failed start. */
  output(): string;
}

function launch(cmd: string, args: string[], opts: { cwd: string; uid?: number; gid?: number }): Running {
  let output = '';
  const child = spawn(cmd, args, { cwd: opts.cwd, uid: opts.uid, gid: opts.gid, stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (chunk: Buffer) => { output = (output + chunk.toString('utf8')).slice(-8000); };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  live.add(child);
  const exited = new Promise<void>((resolve) => child.once('close', () => { live.delete(child); resolve(); }));
  child.once('error', (err) => { output += `\n${err.message}`; });
  return { child, exited, output: () => output };
}

const running = (r: Running) => r.child.exitCode === null && r.child.signalCode === null;

/** Stops a child: `signal` first, SIGKILL if it has not exited within the grace period. */
async function stop(r: Running, signal: NodeJS.Signals, graceMs = 10_000): Promise<void> {
  if (!running(r)) return r.exited;
  r.child.kill(signal);
  const timer = setTimeout(() => r.child.kill('SIGKILL'), graceMs);
  await r.exited;
  clearTimeout(timer);
}

/** Polls `ready` until it resolves true; fails at once if the server exits, or after the timeout. */
async function waitReady(r: Running, what: string, ready: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (running(r)) {
    if (await ready().catch(() => false)) return;
    if (Date.now() > deadline) {
      await stop(r, 'SIGKILL');
      throw new Error(`${what} did not become ready within ${timeoutMs / 1000} s:\n${r.output()}`);
    }
    await sleep(25);
  }
  throw new StartError(`${what} exited during start-up:\n${r.output()}`, /address already in use|could not bind/i.test(r.output()));
}

class StartError extends Error {
  constructor(message: string, readonly portTaken: boolean) {
    super(message);
  }
}

/** Starts on a fresh free port, again on another if someone took it between the check and the bind. */
async function onFreePort<T>(start: (port: number) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(await freePort());
    } catch (err) {
      if (!(err instanceof StartError && err.portTaken) || attempt >= 5) throw err;
    }
  }
}

function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

function removeTempDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

function chownTree(dir: string, uid: number, gid: number): void {
  fs.lchownSync(dir, uid, gid);
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) chownTree(p, uid, gid);
    else fs.lchownSync(p, uid, gid);
  }
}

// ---- PostgreSQL ----

interface PgInstall {
  bin: string;
  /** Who runs it: the postgres user as root, else ourselves (undefined). */
  user?: { uid: number; gid: number };
}

function pgInstall(): PgInstall {
  ensureServicesAvailable();
  return { bin: findPostgresBin()!, user: isRoot() ? postgresUser()! : undefined };
}

/**
 * The initdb'd cluster every start copies, built once per machine, PG version and user. It is
 * built under a unique name and renamed into place, so test files starting at once never see
 * half of one (the loser of the rename throws its copy away).
 */
function pgTemplate(install: PgInstall): string {
  const version = spawnSync(path.join(install.bin, 'postgres'), ['--version'], { encoding: 'utf8' }).stdout.trim();
  const key = `${version}-${install.user?.uid ?? process.getuid?.() ?? 'u'}-v1`.replace(/[^A-Za-z0-9.]+/g, '_');
  const template = path.join(os.tmpdir(), `zimage-test-pg-template-${key}`);
  const complete = (dir: string) => fs.existsSync(path.join(dir, 'data', 'PG_VERSION')) && fs.existsSync(path.join(dir, 'complete'));
  if (complete(template)) return template;
  const build = fs.mkdtempSync(`${template}.build-`);
  try {
    if (install.user) fs.chownSync(build, install.user.uid, install.user.gid);
    const res = spawnSync(path.join(install.bin, 'initdb'),
      ['-D', path.join(build, 'data'), '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync'],
      { cwd: build, uid: install.user?.uid, gid: install.user?.gid, encoding: 'utf8' });
    if (res.status !== 0) throw new Error(`initdb failed (${res.error?.message ?? `exit ${res.status}`}):\n${res.stdout}\n${res.stderr}`);
    fs.writeFileSync(path.join(build, 'complete'), version);
    try {
      fs.renameSync(build, template);
    } catch (err) {
      if (complete(template)) return template; // another test file built it first
      // Templates only appear whole (by rename): an incomplete one was damaged (a tmp cleaner). Replace it.
      fs.rmSync(template, { recursive: true, force: true });
      fs.renameSync(build, template);
    }
  } finally {
    fs.rmSync(build, { recursive: true, force: true });
  }
  return template;
}

/**
 * A PostgreSQL server on 127.0.0.1 (trust auth, durability off for speed), in a fresh
 * cluster. The URL names the `postgres` superuser and database; tests may create databases.
 */
export async function startPostgres(): Promise<Service> {
  const install = pgInstall();
  const template = pgTemplate(install);
  const dir = tempDir('zimage-pg-');
  try {
    const data = path.join(dir, 'data');
    fs.cpSync(path.join(template, 'data'), data, { recursive: true });
    // Node 22's cpSync does not keep the directory's mode (0700), which postgres insists on.
    fs.chmodSync(data, 0o700);
    if (install.user) chownTree(dir, install.user.uid, install.user.gid);
    const server = await onFreePort(async (port) => {
      const r = launch(path.join(install.bin, 'postgres'), [
        '-D', data, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${dir}`,
        '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
        '-c', 'max_connections=200', '-c', 'logging_collector=off',
      ], { cwd: dir, uid: install.user?.uid, gid: install.user?.gid });
      const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
      await waitReady(r, `postgres on port ${port}`, async () => {
        const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
        client.on('error', () => undefined);
        try {
          await client.connect();
          await client.query('SELECT 1');
          return true;
        } finally {
          await client.end().catch(() => undefined);
        }
      });
      return { r, url };
    });
    let closing: Promise<void> | undefined;
    return {
      url: server.url,
      close: () => (closing ??= stopPostgres(server.r).finally(() => removeTempDir(dir))),
    };
  } catch (err) {
    removeTempDir(dir);
    throw err;
  }
}

/**
 * Smart shutdown (SIGTERM) first: it waits for sessions to end, and a pool just ended has
 * sockets still closing (pg's Pool.end resolves before they are closed), which a fast shutdown
 * would answer with an error event no one listens to any more. A session left open (a leaked
 * pool) gets the fast shutdown (SIGINT) after a moment instead of holding close() forever.
 */
async function stopPostgres(r: Running): Promise<void> {
  if (!running(r)) return r.exited;
  r.child.kill('SIGTERM');
  const fast = setTimeout(() => r.child.kill('SIGINT'), 2000);
  const kill = setTimeout(() => r.child.kill('SIGKILL'), 10_000);
  await r.exited;
  clearTimeout(fast);
  clearTimeout(kill);
}

// ---- Redis ----

const redisPing = (port: number) => new Promise<boolean>((resolve) => {
  const socket = net.connect(port, '127.0.0.1');
  let answer = '';
  const done = (ok: boolean) => { socket.destroy(); resolve(ok); };
  socket.setTimeout(1000, () => done(false));
  socket.on('connect', () => socket.write('PING\r\n'));
  socket.on('data', (d) => {
    answer += d.toString();
    if (answer.includes('\r\n')) done(answer.startsWith('+PONG'));
  });
  socket.on('error', () => done(false));
});

/**
 * A redis-server on 127.0.0.1 with no snapshots and `maxmemory-policy noeviction` (what
 * BullMQ requires), in a fresh directory.
 */
export async function startRedis(opts: RedisOptions = {}): Promise<RedisService> {
  ensureServicesAvailable();
  const bin = findOnPath('redis-server')!;
  const dir = tempDir('zimage-redis-');
  const launchOn = async (port: number) => {
    const r = launch(bin, [
      '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir, '--daemonize', 'no',
      '--maxmemory-policy', 'noeviction',
      ...(opts.persistence ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
    ], { cwd: dir });
    await waitReady(r, `redis-server on port ${port}`, () => redisPing(port));
    return r;
  };
  try {
    let port = 0;
    let server = await onFreePort(async (p) => {
      const r = await launchOn(p);
      port = p;
      return r;
    });
    let closing: Promise<void> | undefined;
    return {
      url: `redis://127.0.0.1:${port}`,
      port,
      async restart({ flush = true } = {}) {
        await stop(server, 'SIGKILL');
        if (flush) {
          for (const entry of fs.readdirSync(dir)) fs.rmSync(path.join(dir, entry), { recursive: true, force: true });
        }
        // The same port: clients reconnect to the URL they have. Retry briefly if the old socket lingers.
        for (let attempt = 1; ; attempt++) {
          try {
            server = await launchOn(port);
            return;
          } catch (err) {
            if (!(err instanceof StartError && err.portTaken) || attempt >= 20) throw err;
            await sleep(100);
          }
        }
      },
      close: () => (closing ??= stop(server, 'SIGTERM').finally(() => removeTempDir(dir))),
    };
  } catch (err) {
    removeTempDir(dir);
    throw err;
  }
}
