/**
 * The editor's text → diagnostics, and (when it checks) the compiled plan of one of its schedules
 * with the heatmap, the predicted speed-up, FLOPs and peak memory: ditto's own front end and
 * compiler, the same calls `ditto compile` and `ditto explain --svg` make.
 */
import { DittoError, isDittoError } from '../../core/errors.ts';
import type { Diagnostic } from '../../grammar/diagnostics.ts';
import { checkSources, listSchedules, type Program } from '../../compiler/frontend.ts';
import { openModel, planFor, scheduleFor } from '../../compiler/compileSource.ts';
import type { CompileCaps } from '../../compiler/plan/caps.ts';
import type { Plan } from '../../compiler/plan/types.ts';
import { explainSvg } from '../../compiler/explain/svg.ts';
import { planSummary, type PlanSummary } from '../../compiler/plan/summary.ts';

/** Where the page's files live in the virtual file system (the repository's layout). */
export const MODEL_FILE = '/ditto/models/fmnist.ditto';
export const MODEL_NAME = 'DiT-FMNIST';
/** The editor's text sits beside the shipped schedules, so their `use "../dit.ditto"` resolves. */
export const EDITOR_FILE = '/ditto/models/schedules/playground.ditto';

/** Sampling settings of the page, as `ditto demo` uses them (docs/eval.md). */
export interface SampleSettings {
  steps: number;
  images: number;
  cfgScale: number;
  sampler: 'ddpm' | 'ddim';
}

export interface Analysis {
  diagnostics: Diagnostic[];
  /** Schedules declared in the editor's text. */
  schedules: string[];
  /** The schedule compiled (the chosen one, else the first). */
  schedule?: string;
  plan?: Plan;
  summary?: PlanSummary;
  svg?: string;
  /** A failure after checking (lowering, resolving, compiling) that has no place in the editor. */
  error?: string;
}

function compileFor(program: Program, schedule: string | undefined, s: SampleSettings, caps: CompileCaps): Plan {
  const model = openModel(program, { model: MODEL_NAME, batch: s.images, cfg: true });
  const ir = schedule ? scheduleFor(model, schedule, s.steps, { sampler: s.sampler }) : undefined;
  return planFor(model, ir, { steps: s.steps, sampler: s.sampler, f16: false, guide: 'first3', caps, cfgScale: s.cfgScale }).plan;
}

/** A DittoError's span as a diagnostic, when it points into the editor's text. */
function asDiagnostic(e: DittoError): Diagnostic {
  return { severity: 'error', code: e.code, message: e.message, ...(e.span ? { span: e.span } : {}) };
}

export function analyze(text: string, wanted: string | undefined, s: SampleSettings, caps: CompileCaps): Analysis {
  const { program, diagnostics } = checkSources([MODEL_FILE, EDITOR_FILE], { inline: new Map([[EDITOR_FILE, text]]) });
  const schedules = listSchedules(program).filter((x) => x.file === EDITOR_FILE).map((x) => x.name);
  if (diagnostics.some((d) => d.severity === 'error')) return { diagnostics, schedules };
  const schedule = wanted && schedules.includes(wanted) ? wanted : schedules[0];
  if (!schedule) return { diagnostics, schedules, error: 'the text declares no schedule; write one (`schedule NAME for DiT { … }`) or load an example' };
  try {
    const plan = compileFor(program, schedule, s, caps);
    return { diagnostics, schedules, schedule, plan, summary: planSummary(plan), svg: explainSvg(plan) };
  } catch (e) {
    if (!isDittoError(e)) throw e;
    if (e.span?.file === EDITOR_FILE) return { diagnostics: [...diagnostics, asDiagnostic(e)], schedules, schedule };
    return { diagnostics, schedules, schedule, error: e.message };
  }
}

const baselines = new Map<string, Plan>();

/** The no-cache plan of the same settings (compiled once per settings and adapter). */
export function baselinePlan(s: SampleSettings, caps: CompileCaps): Plan {
  const key = JSON.stringify([s, caps.name, caps.hasSubgroups, caps.subgroupMinSize]);
  let plan = baselines.get(key);
  if (!plan) {
    const { program, diagnostics } = checkSources([MODEL_FILE]);
    const bad = diagnostics.find((d) => d.severity === 'error');
    if (bad) throw new DittoError(bad.code, bad.message, bad.span);
    plan = compileFor(program, undefined, s, caps);
    baselines.set(key, plan);
  }
  return plan;
}
