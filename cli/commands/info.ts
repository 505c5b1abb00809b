/** `ditto info`: the adapter, backend, features, limits and versions. */
import type { Command } from 'commander';
import { createGpu, dawnVersion } from '../../runtime/device.ts';
import { dittoVersion } from '../version.ts';
import { backendOption } from '../options.ts';

const FEATURES_OF_INTEREST = ['shader-f16', 'subgroups', 'timestamp-query'];

export function registerInfo(program: Command): void {
  program
    .command('info')
    .description('show the WebGPU adapter, its features and limits, and the versions of ditto, Node and Dawn')
    .option('--json', 'print a JSON object instead of text')
    .addOption(backendOption())
    .action(async (opts: { json?: boolean; backend?: string }) => {
      const gpu = await createGpu({ backend: opts.backend });
      const r = gpu.report;
      const versions = { ditto: dittoVersion(), node: process.versions.node, dawn: dawnVersion() };
      if (opts.json) {
        process.stdout.write(JSON.stringify({ adapter: r, versions }, null, 2) + '\n');
      } else {
        const lines = [
          `adapter      ${r.name}`,
          `vendor       ${r.vendor || '-'}   architecture ${r.architecture || '-'}${r.isSoftware ? '   (software adapter)' : ''}`,
          `backend      ${r.backend}`,
          `features     ${FEATURES_OF_INTEREST.map((f) => `${f} ${r.features.includes(f) ? 'yes' : 'no'}`).join(', ')}`,
          `subgroups    size ${r.subgroupMinSize}..${r.subgroupMaxSize}`,
          'limits',
          ...Object.entries(r.limits).map(([k, v]) => `  ${k.padEnd(36)} ${v}`),
          `versions     ditto ${versions.ditto}, node ${versions.node}, dawn (npm webgpu) ${versions.dawn}`,
        ];
        process.stdout.write(lines.join('\n') + '\n');
      }
      gpu.device.destroy();
    });
}
