// The command table of src/cli/program.ts: a run registers only the module of the command it
// names, so the table must say which module registers each command, and no other.
import { describe, expect, it } from 'vitest';
import { buildProgram, commandModules } from '../../src/cli/program.js';

describe('the command table', () => {
  it('names every top-level command once, as the modules register them', async () => {
    const registered = (await buildProgram()).commands.map((command) => command.name());
    const tabled = commandModules.flatMap((module) => module.commands);
    expect(new Set(tabled).size).toBe(tabled.length);
    expect(registered).toEqual(tabled);
  });

  it('a run that names a command registers its module alone', async () => {
    for (const module of commandModules) {
      for (const name of module.commands) {
        const program = await buildProgram([name, '--help']);
        expect(program.commands.map((command) => command.name())).toEqual(module.commands);
      }
    }
  });

  it('help, the version and a mistyped command register every command', async () => {
    const all = commandModules.flatMap((module) => module.commands);
    for (const argv of [[], ['--help'], ['--version'], ['help', 'audit'], ['audti']]) {
      const program = await buildProgram(argv);
      expect(program.commands.map((command) => command.name())).toEqual(all);
    }
  });
});
