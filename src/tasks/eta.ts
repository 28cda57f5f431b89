import type { TaskRecord } from '../interfaces.js';

/**
 * Estimates time to completion from how long recent tasks took (an exponentially
 * weighted average, so it follows a change of model or size within a few tasks).
 * Kept in memory: one number, not one entry per task.
 */
export class Eta {
  private avgTaskMs: number | null = null;
  private avgStepMs: number | null = null;

  record(task: TaskRecord): void {
    if (!task.startedAt || !task.finishedAt) return;
    const ms = Math.max(0, task.finishedAt - task.startedAt);
    this.avgTaskMs = this.avgTaskMs === null ? ms : this.avgTaskMs * 0.7 + ms * 0.3;
    const steps = task.progress?.total;
    if (steps) {
      const perStep = ms / steps;
      this.avgStepMs = this.avgStepMs === null ? perStep : this.avgStepMs * 0.7 + perStep * 0.3;
    }
  }

  averageSeconds(): number | null {
    return this.avgTaskMs === null ? null : this.avgTaskMs / 1000;
  }

  /** Tasks ahead (position) plus the running ones, then this one, shared among the live workers. */
  forQueued(position: number, running: number, workers = 1): number | null {
    if (this.avgTaskMs === null) return null;
    return round(((position + 1) * this.avgTaskMs + running * this.avgTaskMs * 0.5) / 1000 / Math.max(1, workers));
  }

  forRunning(task: TaskRecord, defaultSteps: number, now = Date.now()): number | null {
    const elapsed = task.startedAt ? now - task.startedAt : 0;
    const p = task.progress;
    if (p && p.step > 0) return round(((elapsed / p.step) * (p.total - p.step)) / 1000);
    if (this.avgTaskMs !== null) return round(Math.max(0, this.avgTaskMs - elapsed) / 1000);
    if (this.avgStepMs !== null) return round((this.avgStepMs * defaultSteps) / 1000);
    return null;
  }
}

const round = (s: number) => Math.round(s * 10) / 10;
