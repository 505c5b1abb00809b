/**
 * The files a `--schedule` / `--schedules` flag reads, for the overwrite guard (core/outputGuard.ts):
 * a schedule is a name, `FILE.ditto`, or `FILE.ditto:NAME`, with optional parameters.
 */
import { existsSync } from 'node:fs';
import { parseScheduleSpec } from '../compiler/frontend.ts';
import { splitScheduleList } from '../evaluation/eval/scheduleList.ts';
import type { NamedPath } from '../core/outputGuard.ts';

/** The file a schedule spec reads, or undefined for a name (bad specs are reported later, by the verb). */
export function scheduleFileOf(spec: string | undefined): string | undefined {
  if (spec === undefined) return undefined;
  let name: string;
  try {
    name = parseScheduleSpec(spec).name;
  } catch {
    return undefined;
  }
  const colon = /^(.*\.ditto):[A-Za-z_][A-Za-z0-9_]*$/.exec(name);
  if (colon) return colon[1];
  return name.endsWith('.ditto') || existsSync(name) ? name : undefined;
}

/** The files of a comma-separated schedule list, each labelled with the flag. */
export function scheduleListFiles(flag: string, list: string | undefined): NamedPath[] {
  if (list === undefined) return [];
  let specs: string[];
  try {
    specs = splitScheduleList(list);
  } catch {
    return [];
  }
  return specs.map((s) => ({ label: flag, file: scheduleFileOf(s) }));
}
