/**
 * A Program: the parsed files (the entry files and everything they `use`), and the tables of
 * models, variants and schedules they declare. Loading never throws for bad source: every
 * problem becomes a diagnostic; the front end decides whether to throw.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { ModelDecl, ProgramAst, ScheduleDecl, VariantDecl } from '../../grammar/ast.ts';
import { type Diagnostic, DiagnosticBag } from '../../grammar/diagnostics.ts';
import { parseSource } from '../../grammar/parse.ts';
import { decodeSource } from '../../grammar/sourceText.ts';

export interface Located<T> {
  readonly decl: T;
  /** The file (display path) that declares it; relative paths inside it resolve from its folder. */
  readonly file: string;
}

export interface Program {
  readonly entries: readonly string[];
  /** Display path → source text, for rendering diagnostics. */
  readonly sources: ReadonlyMap<string, string>;
  readonly asts: ReadonlyMap<string, ProgramAst>;
  readonly models: ReadonlyMap<string, Located<ModelDecl>>;
  readonly variants: ReadonlyMap<string, Located<VariantDecl>>;
  readonly schedules: ReadonlyMap<string, Located<ScheduleDecl>>;
  /** Warnings found while loading and checking (errors make loadProgram throw). */
  readonly diagnostics: readonly Diagnostic[];
}

/** A path for messages: relative to the working directory when that is shorter. */
export function displayPath(p: string): string {
  const rel = path.relative(process.cwd(), path.resolve(p));
  return rel.startsWith('..') || path.isAbsolute(rel) ? path.resolve(p) : rel;
}

/** Resolves a path written in a source file relative to that file's folder. */
export function resolveFrom(file: string, written: string): string {
  return path.isAbsolute(written) ? written : path.join(path.dirname(file), written);
}

export interface LoadOptions {
  /** Sources given as text instead of read from disk (tests, docs). */
  readonly inline?: ReadonlyMap<string, string>;
}

export function parseProgram(entries: readonly string[], diags: DiagnosticBag, opts: LoadOptions = {}): Program {
  const sources = new Map<string, string>();
  const asts = new Map<string, ProgramAst>();
  const models = new Map<string, Located<ModelDecl>>();
  const variants = new Map<string, Located<VariantDecl>>();
  const schedules = new Map<string, Located<ScheduleDecl>>();
  const seen = new Set<string>();
  const where = (l: Located<{ span: { line: number; column: number } }>) => `${l.file}:${l.decl.span.line}:${l.decl.span.column}`;

  const load = (file: string, from?: { span: Diagnostic['span'] }): void => {
    const key = path.resolve(file);
    if (seen.has(key)) return;
    seen.add(key);
    let text = opts.inline?.get(file);
    if (text === undefined) {
      let why: string | undefined;
      if (!existsSync(file)) why = 'no such file';
      else if (statSync(file).isDirectory()) why = 'it is a directory';
      if (why) {
        diags.error(`cannot read '${file}': ${why}`, from?.span, { code: 'E_IO' });
        return;
      }
      const decoded = decodeSource(file, readFileSync(file));
      if (!decoded.ok) {
        // Not in `sources`: the diagnostic must not print a "line" of binary data.
        diags.error(decoded.message, decoded.span, { code: 'E_SYNTAX' });
        return;
      }
      text = decoded.text;
    }
    sources.set(file, text);
    const parsed = parseSource(file, text);
    for (const d of parsed.diagnostics) diags.add(d);
    if (!parsed.ast) return;
    asts.set(file, parsed.ast);
    for (const d of parsed.ast.decls) {
      switch (d.kind) {
        case 'use':
          load(resolveFrom(file, d.path.value), { span: d.path.span });
          break;
        case 'model':
        case 'variant': {
          const name = d.kind === 'model' ? d.name.name : d.name.value;
          const prev = models.get(name) ?? variants.get(name);
          if (prev) {
            diags.error(`\`${name}\` is already defined at ${where(prev)}`, d.name.span);
            break;
          }
          if (d.kind === 'model') models.set(name, { decl: d, file });
          else variants.set(name, { decl: d, file });
          break;
        }
        case 'schedule': {
          const prev = schedules.get(d.name.name);
          if (prev) {
            diags.error(`schedule \`${d.name.name}\` is already defined at ${where(prev)}`, d.name.span);
            break;
          }
          schedules.set(d.name.name, { decl: d, file });
          break;
        }
      }
    }
  };
  for (const e of entries) load(e);
  return { entries, sources, asts, models, variants, schedules, diagnostics: diags.items.filter((d) => d.severity === 'warning') };
}
