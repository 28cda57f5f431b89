import type { TaskError } from '../../interfaces.js';

/** The failures the queue itself records (not an engine's). */
export const exhaustedError = (attempts: number): TaskError => ({
  code: 'attempts_exhausted',
  message: `The task was started ${attempts} times and its worker stopped each time (crash or restart) before it finished. ` +
    'Check the server log; submitting it again may work once the cause is fixed.',
  retryable: true,
});

export const EXPIRED_ERROR: TaskError = {
  code: 'expired',
  message: 'This task finished longer ago than the retention period (ZIMAGE_RETENTION_HOURS), so its images were deleted. Submit it again.',
  retryable: true,
};
