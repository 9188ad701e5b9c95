// arbor import-kolla KOLLA_DIR --out DIR: a Kolla checkout → an arbor project whose Dockerfiles
// are the ones kolla-build renders (docs/kolla.md). Running it again over an updated checkout
// updates the project in place.
import os from 'node:os';
import type { Command } from 'commander';
import { formatDiagnostic } from '../../errors.js';
import { importKolla } from '../../kolla/import.js';
import { action } from '../action.js';
import { err, out } from '../io.js';
import { namespaceValue, registryValue } from '../options.js';

interface ImportFlags {
  out: string;
  base?: string;
  registry?: string;
  namespace?: string;
  insecure?: boolean;
  config?: string;
  option?: string[];
  templateOverride?: string[];
  force?: boolean;
  fetchSources?: true | string[];
}

/** kolla-build's default --base-arch: the machine, with Apple's arm64 called aarch64. */
function hostArch(): string {
  const machine = os.machine();
  return machine === 'arm64' ? 'aarch64' : machine;
}

export function register(program: Command): void {
  program
    .command('import-kolla')
    .description('turn a Kolla checkout into an arbor project (Dockerfiles identical to kolla-build)')
    .argument('<kolla-dir>', 'the Kolla checkout (kolla/docker/ or docker/ layout)')
    .requiredOption('--out <dir>', 'the project directory to create or update')
    .option('--base <distro>', "kolla-build's --base (rocky, centos, debian, ubuntu; default: Kolla's)")
    .option(
      '--registry <host>',
      "kolla-build's --registry; also the project's registry (default docker.io)",
      registryValue('--registry'),
    )
    .option(
      '--namespace <name>',
      "kolla-build's --namespace; also the project's registry namespace",
      namespaceValue('--namespace'),
    )
    .option('--insecure', 'the registry speaks plain HTTP (registry.insecure)')
    .option('--config <file>', 'a kolla-build.conf (options, sources, users)')
    .option('-o, --option <name=value...>', 'more kolla-build options, e.g. base-arch=aarch64 tag=2025.1')
    .option('--template-override <file...>', "kolla-build's --template-override files, in order")
    .option(
      '--fetch-sources [section...]',
      'download / clone the *-archive sources into the build contexts (all, or these config sections)',
    )
    .option('--force', 'overwrite generated files and values that were edited since the last import')
    .action(
      action<ImportFlags>(async (args, flags) => {
        const report = await importKolla({
          kollaDir: args[0]!,
          outDir: flags.out,
          ...(flags.base !== undefined ? { base: flags.base } : {}),
          ...(flags.registry !== undefined ? { registry: flags.registry } : {}),
          ...(flags.namespace !== undefined ? { namespace: flags.namespace } : {}),
          ...(flags.insecure ? { insecure: true } : {}),
          ...(flags.config !== undefined ? { configFile: flags.config } : {}),
          options: flags.option ?? [],
          templateOverrides: flags.templateOverride ?? [],
          force: flags.force === true,
          ...(flags.fetchSources !== undefined ? { fetchSources: flags.fetchSources } : {}),
          env: process.env,
          hostArch: hostArch(),
        });
        for (const w of report.warnings) err(formatDiagnostic(w));
        const w = report.write;
        const skipped =
          report.unbuildable.length > 0
            ? `, ${report.unbuildable.length} left out as unbuildable on ${report.base} (${report.unbuildable.join(', ')})`
            : '';
        out(
          `Imported ${report.images} images for ${report.base}${skipped}, ${report.sources} archive sources.\n` +
            `${flags.out}: ${w.written.length} files written, ${w.deleted.length} deleted, ${w.unchanged} unchanged; ` +
            `images.yaml ${w.imagesYamlChanged ? 'updated' : 'unchanged'}.`,
        );
        return 0;
      }),
    );
}
