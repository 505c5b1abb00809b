/**
 * The lazy verb table of cli/main.ts: `ditto --help` lists stubs, so each stub must say what the
 * real command says, and a command line must load exactly the verb it runs.
 */
import { describe, expect, it } from 'vitest';
import { Help } from 'commander';
import { buildProgram, VERBS, verbsToLoad } from '../../cli/main.ts';

describe('lazy verbs', () => {
  it('each stub has the real command\'s usage term and description', async () => {
    const real = await buildProgram([], 'all');
    const stubs = await buildProgram([], []);
    const help = new Help();
    for (const name of Object.keys(VERBS)) {
      const r = real.commands.find((c) => c.name() === name);
      const s = stubs.commands.find((c) => c.name() === name);
      expect(r, name).toBeDefined();
      expect(s!.description(), name).toBe(r!.description());
      expect(VERBS[name]!.term, name).toBe(help.subcommandTerm(r!));
    }
    // No verb registered by a module is missing from the table.
    const listed = real.commands.filter((c) => !(c as unknown as { _hidden: boolean })._hidden).map((c) => c.name());
    expect(listed.sort()).toEqual(Object.keys(VERBS).sort());
  });

  it('ditto --help lists every verb from the stubs alone', async () => {
    const program = await buildProgram(['node', 'ditto', '--help']);
    const text = program.helpInformation();
    for (const [name, v] of Object.entries(VERBS)) {
      expect(text).toContain(v.term);
      expect(text).toContain(v.description.split(' ').slice(0, 3).join(' '));
      expect(program.commands.find((c) => c.name() === name)!.options.length).toBe(0);
    }
  });

  it('loads the verb a command line runs, or the one help asks about, and nothing else', () => {
    expect(verbsToLoad(['node', 'ditto', '--version'])).toEqual([]);
    expect(verbsToLoad(['node', 'ditto', '--debug', 'check', 'a.ditto'])).toEqual(['check']);
    expect(verbsToLoad(['node', 'ditto', 'help', 'run'])).toEqual(['run']);
    expect(verbsToLoad(['node', 'ditto', 'weights', 'inspect', '--json', 'w.safetensors'])).toEqual(['weights']);
    expect(verbsToLoad(['node', 'ditto', 'chekc', 'a.ditto'])).toEqual([]);
    expect(verbsToLoad(['node', 'ditto', 'toString'])).toEqual([]);
  });
});
