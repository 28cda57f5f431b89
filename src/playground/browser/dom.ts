/** Small DOM helpers. Text always goes in as text (textContent), never as HTML. */

/** The element with this id; the page's markup is fixed, so a missing one is a bug worth failing on. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`The page has no #${id}`);
  return found as T;
}

type Attrs = Record<string, string | number | boolean | undefined | null>;
type Child = Node | string | null | undefined | false;

/** `h('button', { type: 'button', class: 'x' }, 'Text')`: attributes set as given (false/null/undefined: left out). */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

/** A fresh id for aria-labelledby/describedby links between generated elements. */
let counter = 0;
export const uniqueId = (prefix: string) => `${prefix}-${++counter}`;

/** A random unsigned 32-bit integer (crypto.getRandomValues works on plain-http LAN pages too, unlike randomUUID). */
export function randomUint32(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}

/** A random hex string, e.g. for Idempotency-Key. */
export function randomHex(bytes = 16): string {
  return [...crypto.getRandomValues(new Uint8Array(bytes))].map((b) => b.toString(16).padStart(2, '0')).join('');
}
