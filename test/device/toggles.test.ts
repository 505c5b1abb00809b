/** Dawn toggles: `--dawn-toggle` values become Dawn's enable/disable lists, bad ones a clear error. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { AUTOMATIC_OFF, AUTOMATIC_ON, dawnFlags, dawnHasToggle, resolveToggles, USEFUL_TOGGLES } from '../../runtime/dawnToggles.ts';
import { isDittoError } from '../../core/errors.ts';

const name = fc.stringMatching(/^[a-z][a-z0-9]{0,6}_[a-z0-9_]{1,10}$/);
const spec = fc.tuple(name, fc.constantFrom('', '=on', '=off')).map(([n, s]) => n + s);
const everyNameKnown = () => true;

function usageError(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (isDittoError(e) && e.code === 'E_USAGE') return e.message;
    throw e;
  }
  throw new Error('expected an E_USAGE error');
}

describe('resolveToggles', () => {
  it('turns each name on or off as asked, adds the automatic ones unless turned off, and never both', () => {
    fc.assert(fc.property(fc.array(spec, { maxLength: 8 }), (specs) => {
      const state = new Map<string, string>();
      for (const s of specs) {
        const [n, v] = s.split('=');
        state.set(n!, state.has(n!) && state.get(n!) !== (v === 'off' ? 'off' : 'on') ? 'conflict' : v === 'off' ? 'off' : 'on');
      }
      if ([...state.values()].includes('conflict')) {
        expect(usageError(() => resolveToggles(specs, everyNameKnown))).toContain('both turned on and turned off');
        return;
      }
      const t = resolveToggles(specs, everyNameKnown);
      expect(t.enabled.filter((n) => t.disabled.includes(n))).toEqual([]);
      for (const [n, v] of state) expect(v === 'on' ? t.enabled : t.disabled).toContain(n);
      for (const a of AUTOMATIC_ON) expect(state.get(a) === 'off' ? t.disabled : t.enabled).toContain(a);
      for (const a of AUTOMATIC_OFF) expect(state.get(a) === 'on' ? t.enabled : t.disabled).toContain(a);
      // Dawn's flag strings carry exactly these lists.
      const flags = dawnFlags(t);
      const list = (prefix: string) => flags.find((f) => f.startsWith(prefix))?.slice(prefix.length).split(',') ?? [];
      expect(list('enable-dawn-features=')).toEqual(t.enabled);
      expect(list('disable-dawn-features=')).toEqual(t.disabled);
    }));
  });

  it('turns vulkan_enable_f16_on_nvidia on and timestamp_quantization off by default, and lets the user say otherwise', () => {
    expect(resolveToggles([])).toEqual({ enabled: ['vulkan_enable_f16_on_nvidia'], disabled: ['timestamp_quantization'] });
    expect(resolveToggles(['vulkan_enable_f16_on_nvidia=off', 'timestamp_quantization'])).toEqual({ enabled: ['timestamp_quantization'], disabled: ['vulkan_enable_f16_on_nvidia'] });
  });

  it('rejects bad syntax, naming the value', () => {
    for (const bad of ['', 'Allow_Unsafe', 'allow unsafe', 'x=maybe', '-allow_unsafe_apis']) {
      expect(usageError(() => resolveToggles([bad], everyNameKnown))).toContain(`'${bad}'`);
    }
  });

  it('rejects a name the loaded Dawn build does not contain, with the nearest known name', () => {
    const m = usageError(() => resolveToggles(['allow_unsafe_api']));
    expect(m).toContain("no toggle named 'allow_unsafe_api'");
    expect(m).toContain("did you mean 'allow_unsafe_apis'");
    expect(usageError(() => resolveToggles(['no_such_toggle_anywhere']))).not.toContain('did you mean');
  });
});

describe('the loaded Dawn build', () => {
  it('contains every toggle ditto lists as useful (a Dawn update that renames one fails here)', () => {
    for (const t of USEFUL_TOGGLES) expect([t.name, dawnHasToggle(t.name)]).toEqual([t.name, true]);
    expect(dawnHasToggle('vulkan_enable_f16_on_nvidiaa')).toBe(false);
  });
});
