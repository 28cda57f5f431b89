/** The client commands, in the order help lists them. */
import type { Command } from './command.js';
import { cancel, del } from './commands/control.js';
import { edit, generate } from './commands/generate.js';
import { health, models } from './commands/info.js';
import { show, tasks } from './commands/tasks.js';
import { wait } from './commands/wait.js';

export const COMMANDS: readonly Command[] = [generate, edit, wait, tasks, show, cancel, del, health, models];

export function findCommand(name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name);
}
