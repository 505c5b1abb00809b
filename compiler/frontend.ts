/**
 * The front end's public API: load and check .ditto files, lower a model to Graph IR, resolve a
 * schedule to Schedule IR. User errors are DittoErrors whose `detail` holds every diagnostic,
 * rendered with file:line:col, the source line and a caret.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { packagePath } from '../core/packageRoot.ts';
import { DittoError } from '../core/errors.ts';
import { type Diagnostic, DiagnosticBag, listSome, renderDiagnostics, didYouMean } from '../grammar/diagnostics.ts';
import { checkProgram } from './check/checkProgram.ts';
import { configNames, resolveConfig } from './check/config.ts';
import { type LoadOptions, type Located, type Program, parseProgram } from './check/program.ts';
import type { ScheduleDecl } from '../grammar/ast.ts';
import type { Graph } from './ir/graph.ts';
import type { ScheduleIR } from './ir/schedule.ts';
import type { SamplerKind } from './passes/options.ts';
import { lowerModelDecl } from './lower/lowerModel.ts';
import { resolveScheduleDecl } from './schedule/resolve.ts';

export type { Program } from './check/program.ts';
export type { Diagnostic } from '../grammar/diagnostics.ts';

function render(p: Pick<Program, 'sources'> | undefined, ds: readonly Diagnostic[]): string {
  return renderDiagnostics(ds, (f) => p?.sources.get(f));
}

function fail(p: Pick<Program, 'sources'>, diags: DiagnosticBag): never {
  const errors = diags.items.filter((d) => d.severity === 'error');
  const first = errors[0]!;
  // One code when all errors agree (E_SYNTAX, E_TABLE, E_USAGE, …), else the checker's.
  const code = errors.every((d) => d.code === first.code) ? first.code : 'E_CHECK';
  const summary = errors.length === 1 ? first.message : `${errors.length} errors; the first: ${first.message}`;
  throw new DittoError(code, summary, first.span, render(p, diags.items));
}

export interface ProgramLoadOptions extends LoadOptions {
  /**
   * `program` (default): lower every model and variant and resolve every schedule, as `ditto check`
   * does. `declarations`: parse and build the tables only — for compiling, where the one model
   * lowered and the one schedule resolved are checked as that happens, and nothing is done twice.
   */
  readonly check?: 'program' | 'declarations';
}

/** Parses and checks a set of files (and what they `use`); diagnostics only, never throws for bad source. */
export function checkSources(paths: readonly string[], opts: ProgramLoadOptions = {}): { program: Program; diagnostics: Diagnostic[] } {
  const diags = new DiagnosticBag();
  const program = parseProgram(paths, diags, opts);
  if (!diags.hasErrors && opts.check !== 'declarations') checkProgram(program, diags);
  return { program: { ...program, diagnostics: diags.items.filter((d) => d.severity === 'warning') }, diagnostics: diags.items };
}

/** Parse + resolve `use` imports + check. Throws a DittoError carrying all diagnostics rendered in `.detail`. */
export function loadProgram(path: string, opts: ProgramLoadOptions = {}): Program {
  const { program, diagnostics } = checkSources([path], opts);
  if (diagnostics.some((d) => d.severity === 'error')) {
    const bag = new DiagnosticBag();
    for (const d of diagnostics) bag.add(d);
    fail(program, bag);
  }
  return program;
}

/** For `ditto check`: all diagnostics of all files, and their rendering ("ok" lines when clean). */
export function checkFiles(paths: string[], opts: LoadOptions = {}): { diagnostics: Diagnostic[]; rendered: string } {
  const { program, diagnostics } = checkSources(paths, opts);
  return { diagnostics, rendered: diagnostics.length ? render(program, diagnostics) : '' };
}

export interface LowerOptions {
  /** Model or variant name ('DiT', 'DiT-S/2'); default: the only model of the program. */
  model?: string;
  set?: Record<string, number>;
  batch: number;
}

export function lowerModel(program: Program, opts: LowerOptions): Graph {
  if (!Number.isInteger(opts.batch) || opts.batch < 1) throw new DittoError('E_USAGE', `batch must be a whole number ≥ 1, got ${opts.batch}`);
  const names = configNames(program);
  let name = opts.model;
  if (name === undefined) {
    if (program.models.size !== 1) {
      throw new DittoError('E_USAGE', `the program declares ${program.models.size} models; name one of: ${names.join(', ') || '(none)'}`);
    }
    name = [...program.models.keys()][0]!;
  }
  if (!program.models.has(name) && !program.variants.has(name)) {
    const s = didYouMean(name, names);
    throw new DittoError('E_USAGE', `unknown model \`${name}\`${s ? `; ${s}` : ''}; valid models and variants: ${listSome(names, 60)}`);
  }
  const diags = new DiagnosticBag();
  const cfg = resolveConfig(program, name, opts.set ?? {}, diags);
  const graph = cfg ? lowerModelDecl(cfg.model.decl, { graphName: cfg.model.decl.name.name, params: cfg.params, batch: opts.batch }, diags) : undefined;
  if (!graph) fail(program, diags);
  checkWeightSizes(graph);
  return graph;
}

/** The most elements one weight tensor may hold (4 GiB as f32; past any adapter's buffer limit). */
export const MAX_WEIGHT_ELEMENTS = 2 ** 30;

/**
 * Weight shapes follow from the model's parameters alone, so an oversized `--set hidden=1e9` is
 * caught here, before any verb allocates gigabytes (or fails inside a typed-array constructor).
 */
function checkWeightSizes(graph: Graph): void {
  for (const n of graph.nodes) {
    for (const w of n.weights) {
      const elements = w.shape.reduce((a, b) => a * b, 1);
      if (elements > MAX_WEIGHT_ELEMENTS) {
        const params = Object.entries(graph.params).map(([k, v]) => `${k}=${v}`).join(',');
        throw new DittoError('E_USAGE', `model ${graph.model} (${params}): weight '${w.name}' would have shape [${w.shape.join(', ')}], ${elements.toExponential(2)} elements, more than the 2^30 a tensor may hold; check the model's parameters (--set)`);
      }
    }
  }
}

export interface ResolveOptions {
  steps?: number;
  /** Schedule parameter overrides (`N=3`). */
  set?: Record<string, number>;
  /** The sampler the schedule is used with: one declaring another (`sampler ddim`) is refused. */
  sampler?: SamplerKind;
}

/** The shipped schedule library (FORA, EB-Cache, Δ-DiT, …): searched by name when the program lacks one. */
export const SCHEDULE_LIBRARY = packagePath('models', 'schedules') + path.sep;

/** Splits `fora(N=2)` into a name and parameter overrides; a bare name has none. */
export function parseScheduleSpec(spec: string): { name: string; set: Record<string, number> } {
  const m = /^\s*([^()]+?)\s*(?:\((.*)\))?\s*$/.exec(spec);
  if (!m) throw new DittoError('E_USAGE', `--schedule: cannot read '${spec}'; write NAME, NAME(k=v,…), FILE.ditto or FILE.ditto:NAME`);
  return { name: m[1]!, set: m[2] !== undefined && m[2].trim() !== '' ? parseSetFlag(m[2]) : {} };
}

function librarySchedule(name: string): string | undefined {
  if (!existsSync(SCHEDULE_LIBRARY)) return undefined;
  for (const f of readdirSync(SCHEDULE_LIBRARY).filter((x) => x.endsWith('.ditto')).sort()) {
    const file = path.join(SCHEDULE_LIBRARY, f);
    if (new RegExp(`^\\s*schedule\\s+${name.replace(/[^A-Za-z0-9_]/g, '')}\\b`, 'm').test(readFileSync(file, 'utf8'))) return file;
  }
  return undefined;
}

/** A schedule spec found: the program that declares it, its declaration and its parameter overrides. */
export interface FoundSchedule {
  readonly program: Program;
  readonly loc: Located<ScheduleDecl>;
  readonly set: Record<string, number>;
}

/**
 * `schedule` is a schedule name in the program, a name in the shipped library, the path of a
 * .ditto file with one schedule, or `FILE.ditto:NAME`; any of them may carry parameters,
 * `fora(N=2)`. Finds its declaration, without resolving it.
 */
export function findSchedule(program: Program, schedule: string): FoundSchedule {
  const spec = parseScheduleSpec(schedule);
  let prog = program;
  let name = spec.name;
  const colon = /^(.*\.ditto):([A-Za-z_][A-Za-z0-9_]*)$/.exec(spec.name);
  // A schedule from another file is resolved once, below: loading that file checks its declarations only.
  const only = { check: 'declarations' } as const;
  if (colon) {
    prog = loadProgram(colon[1]!, only);
    name = colon[2]!;
  } else if (!program.schedules.has(name) && (name.endsWith('.ditto') || existsSync(name))) {
    const file = name;
    prog = loadProgram(file, only);
    const mine = schedulesDeclaredIn(prog, file);
    const pool = mine.length ? mine : listSchedules(prog);
    if (pool.length !== 1) {
      throw new DittoError('E_USAGE', `'${file}' declares ${pool.length} schedules; name one with ${file}:NAME, one of: ${pool.map((s) => s.name).join(', ')}`);
    }
    name = pool[0]!.name;
  } else if (!program.schedules.has(name)) {
    const lib = librarySchedule(name);
    if (lib) prog = loadProgram(lib, only);
  }
  const loc = prog.schedules.get(name);
  if (!loc) {
    const names = [...prog.schedules.keys()];
    const s = didYouMean(name, names);
    throw new DittoError('E_USAGE', `unknown schedule \`${name}\`${s ? `; ${s}` : ''}; schedules of the program: ${names.join(', ') || '(none)'}; the shipped library is in models/schedules/ (docs/language.md lists every shipped schedule)`);
  }
  return { program: prog, loc, set: spec.set };
}

/** Finds `schedule` (findSchedule) and resolves it against `graph`. */
export function resolveSchedule(program: Program, schedule: string, graph: Graph, opts: ResolveOptions = {}): ScheduleIR {
  return resolveFound(findSchedule(program, schedule), graph, opts);
}

/** Resolves a schedule findSchedule found against `graph`; for callers that read its declaration first. */
export function resolveFound(found: FoundSchedule, graph: Graph, opts: ResolveOptions = {}): ScheduleIR {
  const { program: prog, loc, set } = found;
  opts = { ...opts, set: { ...set, ...(opts.set ?? {}) } };
  const name = loc.decl.name.name;
  const target = loc.decl.model.value;
  const base = baseModel(prog, target);
  if (base !== graph.model) {
    throw new DittoError('E_USAGE', `schedule \`${name}\` is written for model \`${target}\`, but the graph is \`${graph.model}\``);
  }
  const diags = new DiagnosticBag();
  if (opts.steps !== undefined && (!Number.isInteger(opts.steps) || opts.steps < 1)) throw new DittoError('E_USAGE', `steps must be a whole number ≥ 1, got ${opts.steps}`);
  const ir = resolveScheduleDecl(loc, graph, { ...(opts.steps !== undefined ? { steps: opts.steps } : {}), ...(opts.set ? { set: opts.set } : {}), ...(opts.sampler ? { sampler: opts.sampler } : {}) }, diags);
  if (!ir) fail(prog, diags);
  return ir;
}

/** The model a model-or-variant name is built from. */
function baseModel(p: Program, name: string): string {
  let cur = name;
  for (let hops = 0; hops < 100 && !p.models.has(cur); hops++) {
    const v = p.variants.get(cur);
    if (!v) return cur;
    cur = v.decl.base.value;
  }
  return cur;
}

export function listModels(program: Program): { name: string; kind: 'model' | 'variant'; base?: string }[] {
  return [
    ...[...program.models.keys()].map((name) => ({ name, kind: 'model' as const })),
    ...[...program.variants.entries()].map(([name, v]) => ({ name, kind: 'variant' as const, base: v.decl.base.value })),
  ];
}

export function listSchedules(program: Program): { name: string; model: string; params: string[]; file: string }[] {
  return [...program.schedules.values()].map((s) => ({ name: s.decl.name.name, model: s.decl.model.value, params: s.decl.params.map((p) => p.name.name), file: s.file }));
}

/** The schedules written in `file` itself, not in the files it `use`s: the ones a user giving that
 *  file means. Paths are compared resolved, so `./x.ditto` and `x.ditto` name the same file. */
export function schedulesDeclaredIn(program: Program, file: string): ReturnType<typeof listSchedules> {
  const wanted = path.resolve(file);
  return listSchedules(program).filter((s) => path.resolve(s.file) === wanted);
}

/** Parses `latent=8,patch=2` (also `a=1 b=2`, `x=1e-3`) with errors naming the bad part. */
export function parseSetFlag(text: string): Record<string, number> {
  const out: Record<string, number> = Object.create(null) as Record<string, number>; // user-named keys: `constructor` is not "given twice"
  for (const part of text.split(/[,\s]+/).filter(Boolean)) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(part);
    if (!m) throw new DittoError('E_USAGE', `--set expects name=value pairs separated by commas (e.g. latent=8,patch=2), got '${part}'`);
    const v = Number(m[2]);
    if (m[2]!.trim() === '' || !Number.isFinite(v)) throw new DittoError('E_USAGE', `--set ${m[1]}: '${m[2]}' is not a number`);
    if (m[1]! in out) throw new DittoError('E_USAGE', `--set ${m[1]} is given twice`);
    out[m[1]!] = v;
  }
  return out;
}
