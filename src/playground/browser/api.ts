/**
 * The playground's one connection to the server: the typed ZImageClient, plus the API-key
 * flow. A call that answers 401 asks for the key (one dialog however many calls failed at
 * once), stores it and runs again; if the person cancels, calls fail with the server's
 * message and nothing asks again until they choose "Enter API key".
 */
import { ZImageClient } from '../../client/client.js';
import { ApiResponseError } from '../../client/errors.js';
import { askForKey } from './keyDialog.js';
import { forgetKey, loadKey, saveKey } from './keyStore.js';

/** The server's address: the page's own folder, so a reverse proxy may mount it under a path. */
export const serverUrl = (): string => new URL('.', location.href).href.replace(/\/+$/, '');

export class Api {
  private client: ZImageClient;
  private asking: Promise<boolean> | undefined;
  /** Set when the person cancelled the dialog: 401s then fail quietly instead of asking again. */
  private declined = false;
  private readonly listeners = new Set<() => void>();

  constructor() {
    this.client = this.makeClient(loadKey());
  }

  /** The client as it stands, for calls that need no key (/health). */
  get current(): ZImageClient {
    return this.client;
  }

  get hasKey(): boolean {
    return loadKey() !== undefined;
  }

  /** Whether a 401 was left unanswered (the "Enter API key" button is then worth showing). */
  get needsKey(): boolean {
    return this.declined;
  }

  /** Called whenever the key (or the need for one) changes. */
  onChange(listener: () => void): void {
    this.listeners.add(listener);
  }

  /** Runs fn with the client; on 401, asks for the key and runs it again with the new one. */
  async call<T>(fn: (client: ZImageClient) => Promise<T>): Promise<T> {
    for (;;) {
      const client = this.client;
      try {
        return await fn(client);
      } catch (err) {
        if (!(err instanceof ApiResponseError && err.status === 401)) throw err;
        // Another call's dialog set a key meanwhile: try that one first.
        if (client !== this.client) continue;
        if (this.declined || !(await this.ask(err.message))) throw err;
      }
    }
  }

  /** Asks for a key now ("Enter API key"); true when one was given. */
  requestKey(reason = 'Enter the API key for this server.'): Promise<boolean> {
    this.declined = false;
    return this.ask(reason);
  }

  /** Forgets the stored key; later calls answer 401 until a key is entered again. */
  forget(): void {
    forgetKey();
    this.client = this.makeClient(undefined);
    this.declined = true;
    this.changed();
  }

  private ask(reason: string): Promise<boolean> {
    this.asking ??= askForKey(reason).then((key) => {
      this.asking = undefined;
      if (key === undefined) {
        this.declined = true;
      } else {
        saveKey(key);
        this.client = this.makeClient(key);
        this.declined = false;
      }
      this.changed();
      return key !== undefined;
    });
    return this.asking;
  }

  private makeClient(apiKey: string | undefined): ZImageClient {
    return new ZImageClient({ url: serverUrl(), apiKey });
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }
}
