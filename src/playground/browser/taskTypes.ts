/** The task shapes the playground works with, from the client's types. */
import type { GenerateParams, Task } from '../../client/types.js';

/** What a task asked for, resolved: the server's `request` field ("use these settings again"). */
export type TaskRequest = NonNullable<Task['request']>;
export type OutputFormat = NonNullable<GenerateParams['output_format']>;
