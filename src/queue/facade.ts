import type { TaskEvents, TaskStore } from '../interfaces.js';

export type TaskQueue = TaskStore & TaskEvents;

/**
 * The task store and the events as one object, which is what the task service, the HTTP
 * layer and webhooks are given. Embedded both are the SQLite queue; in a fleet they are
 * Postgres and BullMQ. Methods are looked up at call time, so a test may wrap one.
 */
export function taskQueue(store: TaskStore, events: TaskEvents): TaskQueue {
  if ((store as unknown) === events) return store as TaskQueue;
  return {
    name: store.name,
    enqueue: (task, opts) => store.enqueue(task, opts),
    get: (id) => store.get(id),
    position: (id) => store.position(id),
    list: (opts) => store.list(opts),
    cancel: (id) => store.cancel(id),
    remove: (id) => store.remove(id),
    stats: () => store.stats(),
    subscribe: (listener) => events.subscribe(listener),
  };
}
