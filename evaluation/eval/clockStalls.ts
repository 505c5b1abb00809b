/**
 * A row's speed-up is its summed wall clock against the no-cache row's, so one batch whose clock
 * ran while the process was stopped or starved (a SIGSTOP, a suspended machine, another job taking
 * the cores for minutes) skews a speed-up with nothing in the table to show it. The batches of one
 * row sample the same number of images with the same plan, so their times agree closely; a batch far
 * above its row's median is named in the report's notes instead of passing silently.
 */
import { median } from '../../core/median.ts';

/** How many times its row's median a batch may take before it is called a stall. */
export const STALL_FACTOR = 4;
/** Below this many timed batches a median says too little to judge by. */
export const STALL_MIN_BATCHES = 4;

export interface RowBatchTimes {
  readonly name: string;
  /** Seconds per batch in batch order; undefined where the time is not known (a progress file
   *  written before batch times were kept). */
  readonly batches: readonly (number | undefined)[];
}

/** One note per row that has stalled batches, naming them, their times and the row's median. */
export function clockStallNotes(rows: readonly RowBatchTimes[]): string[] {
  const notes: string[] = [];
  for (const row of rows) {
    const known = row.batches.filter((t): t is number => t !== undefined && Number.isFinite(t));
    if (known.length < STALL_MIN_BATCHES) continue;
    const m = median(known);
    if (!(m > 0)) continue;
    const stalls = row.batches.flatMap((t, j) => (t !== undefined && t > STALL_FACTOR * m ? [`batch ${j} took ${t.toFixed(0)} s`] : []));
    if (stalls.length === 0) continue;
    notes.push(`${row.name}: ${stalls.join(', ')} against a median of ${m.toFixed(1)} s per batch — the clock ran while the process was stopped or starved, so the speed-ups against this row are off; rerun it (the FIDs are unaffected)`);
  }
  return notes;
}
