/**
 * The one compile-from-source entry point (compiler/compileSource.ts): it compiles what the
 * separate front-end and middle-end calls compile, checks the model and schedule it compiles with
 * the step count and parameters they are compiled with (once), and says which list entry failed.
 */
import { describe, expect, it } from 'vitest';
import { DittoError } from '../../core/errors.ts';
import { checkSources, loadProgram, lowerModel, resolveSchedule } from '../../compiler/frontend.ts';
import { compile } from '../../compiler/pipeline.ts';
import { LAVAPIPE_CAPS } from '../../compiler/plan/caps.ts';
import { compileSource, openModel, planFor, scheduleFor } from '../../compiler/compileSource.ts';

const FILE = 'models/test_compile_source.ditto';
const TINY = `use "dit.ditto"
variant Tiny = DiT(latent = 4, patch = 2, hidden = 32, depth = 2, heads = 2, classes = 4)
`;
// A schedule whose default parameter breaks its own requirement: valid only with N given.
const NEEDS_N = `${TINY}
schedule every_n(N = 0) for DiT {
  require N >= 1 "N is the interval between computes"
  blocks[*].attn reuse at not every N
}
`;

function thrown(f: () => unknown): DittoError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(DittoError);
    return e as DittoError;
  }
  throw new Error('expected a DittoError');
}

describe('compileSource', () => {
  it('compiles the same plan as lowering, resolving and compiling by hand', async () => {
    const text = { text: TINY, path: FILE };
    const r = await compileSource(text, { model: 'Tiny', schedule: 'fora(N=2)', steps: 6, batch: 2, cfgScale: 1.5, caps: LAVAPIPE_CAPS });
    const program = loadProgram(FILE, { inline: new Map([[FILE, TINY]]) });
    const graph = lowerModel(program, { model: 'Tiny', batch: 4 });
    const byHand = compile(graph, resolveSchedule(program, 'fora(N=2)', graph, { steps: 6 }), { steps: 6, batch: 2, cfgScale: 1.5, caps: LAVAPIPE_CAPS }).plan;
    expect(r.plan.hash).toBe(byHand.hash);
    expect(r.model.graph.batch).toBe(4);
    expect(r.schedule?.steps).toBe(6);
  });

  it('asks for the kernel profile only after the source checks', async () => {
    let asked = 0;
    const caps = async () => {
      asked++;
      return LAVAPIPE_CAPS;
    };
    await expect(compileSource({ text: TINY, path: FILE }, { model: 'Tiny', schedule: 'no_such_schedule', steps: 4, caps })).rejects.toThrow(/unknown schedule/);
    expect(asked).toBe(0);
    await compileSource({ text: TINY, path: FILE }, { model: 'Tiny', steps: 4, caps });
    expect(asked).toBe(1);
  });

  it('resolves the chosen schedule once, with the parameters it is compiled with', async () => {
    // `ditto check` resolves every schedule with its defaults: N = 0 breaks the requirement.
    const checked = checkSources([FILE], { inline: new Map([[FILE, NEEDS_N]]) }).diagnostics.filter((d) => d.severity === 'error');
    expect(checked.map((d) => d.message).join('\n')).toMatch(/requires N >= 1, but N = 0/);
    // Compiling resolves only the chosen schedule, with N = 2: the defaults are never tried.
    const r = await compileSource({ text: NEEDS_N, path: FILE }, { model: 'Tiny', schedule: 'every_n(N=2)', steps: 6, caps: LAVAPIPE_CAPS });
    expect(r.plan.cost.flopsRatio).toBeLessThan(1);
    // …and with the default it is still refused, at the requirement.
    await expect(compileSource({ text: NEEDS_N, path: FILE }, { model: 'Tiny', schedule: 'every_n', steps: 6, caps: LAVAPIPE_CAPS })).rejects.toThrow(/requires N >= 1/);
  });

  it('names the list entry and the step count when a schedule of a list fails', () => {
    const m = openModel({ text: TINY, path: FILE }, { model: 'Tiny', batch: 1, cfg: false });
    const e = thrown(() => scheduleFor(m, 'ebcache_table', 20, { flag: '--schedules' }));
    expect(e.code).toBe('E_TABLE');
    expect(e.message).toMatch(/^--schedules 'ebcache_table' at 20 steps: .*50 entries.*rerun with --steps equal to the table length/);
    // Without a flag the error is the resolver's own.
    expect(thrown(() => scheduleFor(m, 'ebcache_table', 20)).message).not.toMatch(/--schedules/);
  });

  it('refuses a plan whose guidance does not match how the model was lowered', () => {
    const m = openModel({ text: TINY, path: FILE }, { model: 'Tiny', batch: 1, cfg: false });
    expect(thrown(() => planFor(m, undefined, { steps: 2, cfgScale: 1.5, caps: LAVAPIPE_CAPS })).code).toBe('E_INTERNAL');
    expect(planFor(m, undefined, { steps: 2, caps: LAVAPIPE_CAPS }).plan.io).toBeDefined();
  });

  it('reports syntax errors anywhere in the program; a broken declaration it does not compile is for ditto check', () => {
    const e = thrown(() => openModel({ text: `${TINY}\nschedule s for DiT { blocks[*].attn reuse at }\n`, path: FILE }, { model: 'Tiny', batch: 1, cfg: false }));
    expect(e.code).toBe('E_SYNTAX');
    expect(e.detail).toMatch(/test_compile_source\.ditto:\d+:\d+/);
    const broken = `${TINY}\nvariant Broken = Nope(latent = 4)\n`;
    expect(openModel({ text: broken, path: FILE }, { model: 'Tiny', batch: 1, cfg: false }).graph.model).toBe('DiT');
    expect(checkSources([FILE], { inline: new Map([[FILE, broken]]) }).diagnostics.some((d) => d.severity === 'error' && /Nope/.test(d.message))).toBe(true);
    expect(thrown(() => openModel({ text: broken, path: FILE }, { model: 'Broken', batch: 1, cfg: false })).message).toMatch(/Nope/);
  });
});
