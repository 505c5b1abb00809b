/**
 * The whole-program check behind `ditto check` and `loadProgram`: every model and variant is
 * lowered with its default parameters (batch 1) so shape errors surface, and every schedule is
 * resolved against its model, so the schedule checks run too.
 */
import type { DiagnosticBag } from '../../grammar/diagnostics.ts';
import type { Graph } from '../ir/graph.ts';
import { lowerModelDecl } from '../lower/lowerModel.ts';
import { resolveScheduleDecl } from '../schedule/resolve.ts';
import { resolveConfig } from './config.ts';
import type { Program } from './program.ts';

export function checkProgram(p: Program, diags: DiagnosticBag): void {
  const graphs = new Map<string, Graph | undefined>();
  // Variants that resolve to the same model and parameters (DiT-S/2 and DiT-S/2-256) lower to the
  // same graph with the same diagnostics: lower them once (`ditto check` of a file that uses
  // models/dit.ditto lowers a few dozen variants, most of its time).
  const byConfig = new Map<string, Graph | undefined>();
  const lowerDefault = (name: string, span?: Parameters<typeof resolveConfig>[4]): Graph | undefined => {
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
  for (const name of p.models.keys()) lowerDefault(name);
  for (const [name, v] of p.variants) lowerDefault(name, v.decl.base.span);
  for (const s of p.schedules.values()) {
    const g = lowerDefault(s.decl.model.value, s.decl.model.span);
    if (g) resolveScheduleDecl(s, g, {}, diags);
  }
}
