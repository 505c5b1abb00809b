/**
 * The whole-program check behind `ditto check` and `loadProgram`. Every file is parsed and its
 * names checked (program.ts); beyond that, what the entry files declare is checked in full:
 * - every model and variant they declare is lowered with its parameters (batch 1), so shape errors
 *   surface;
 * - every schedule they declare is resolved against the model or variant it is written for, so
 *   the schedule checks run too (that configuration is lowered, wherever it is declared).
 * Models and variants of files that are only `use`d are lowered when a checked schedule or variant
 * needs them, not otherwise: `ditto check` of a schedule file that uses models/dit.ditto lowers the
 * one configuration its schedules target, not dit.ditto's 38 variants. A variant is checked in full
 * when its own file is checked and whenever it is used (lowerModel; docs/decisions.md).
 */
import path from 'node:path';
import type { SourceSpan } from '../../core/errors.ts';
import type { DiagnosticBag } from '../../grammar/diagnostics.ts';
import type { Graph } from '../ir/graph.ts';
import { lowerModelDecl } from '../lower/lowerModel.ts';
import { resolveScheduleDecl } from '../schedule/resolve.ts';
import { resolveConfig } from './config.ts';
import type { Program } from './program.ts';

export function checkProgram(p: Program, diags: DiagnosticBag): void {
  const entries = new Set(p.entries.map((e) => path.resolve(e)));
  const declaredInEntry = (l: { file: string }) => entries.has(path.resolve(l.file));
  const graphs = new Map<string, Graph | undefined>();
  // Variants that resolve to the same model and parameters (DiT-S/2 and DiT-S/2-256) lower to the
  // same graph with the same diagnostics: lower them once.
  const byConfig = new Map<string, Graph | undefined>();
  const lowerDefault = (name: string, span?: SourceSpan): Graph | undefined => {
    if (graphs.has(name)) return graphs.get(name);
    const cfg = resolveConfig(p, name, {}, diags, span);
    let g: Graph | undefined;
    if (cfg) {
      const key = `${cfg.model.file}\0${cfg.model.decl.name.name}\0${JSON.stringify(Object.entries(cfg.params).sort(([a], [b]) => (a < b ? -1 : 1)))}`;
      if (byConfig.has(key)) g = byConfig.get(key);
      else {
        g = lowerModelDecl(cfg.model.decl, { graphName: cfg.model.decl.name.name, params: cfg.params, batch: 1 }, diags);
        byConfig.set(key, g);
      }
    }
    graphs.set(name, g);
    return g;
  };
  for (const [name, m] of p.models) if (declaredInEntry(m)) lowerDefault(name);
  for (const [name, v] of p.variants) if (declaredInEntry(v)) lowerDefault(name, v.decl.base.span);
  for (const s of p.schedules.values()) {
    if (!declaredInEntry(s)) continue;
    const g = lowerDefault(s.decl.model.value, s.decl.model.span);
    if (g) resolveScheduleDecl(s, g, {}, diags);
  }
}
