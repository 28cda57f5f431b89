/** Runs one client command: parse its words, build the context, run it, turn any failure into an exit code. */
import { COMMON_OPTIONS, parseCommand } from './args.js';
import type { Command } from './command.js';
import { createContext, type Streams } from './context.js';
import { failureOf } from './exit.js';
import { commandHelp } from './help.js';

export { COMMANDS, findCommand } from './commands.js';
export { commandHelp, mainHelp } from './help.js';
export { packageVersion } from '../../version.js';

export async function runClientCommand(command: Command, argv: string[], streams: Streams): Promise<number> {
  // Before the words are parsed we can only guess whether the caller wants JSON errors.
  let json = argv.includes('--json');
  try {
    const parsed = parseCommand(command.name, [...command.options, ...COMMON_OPTIONS], command.args, argv);
    if (parsed.help) {
      streams.stdout.write(commandHelp(command));
      return 0;
    }
    json = parsed.values.json ?? false;
    return await command.run(createContext(command.name, parsed.values, streams), parsed);
  } catch (err) {
    const failure = failureOf(err);
    streams.stderr.write(`zimage: ${failure.message}\n`);
    if (json) streams.stdout.write(`${JSON.stringify({ error: { ...failure.detail, exit_code: failure.code } }, null, 2)}\n`);
    return failure.code;
  }
}
