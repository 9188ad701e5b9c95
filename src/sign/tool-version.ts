// The version a build tool reports (`docker --version`, `buildah --version`), for provenance:
// the first line of its output, or undefined when it cannot be run.
import { execa } from 'execa';

export async function toolVersion(file: string, args: string[] = ['--version']): Promise<string | undefined> {
  const result = await execa(file, args, { reject: false, timeout: 10_000, stdin: 'ignore' });
  if (result.failed || typeof result.stdout !== 'string') return undefined;
  return result.stdout.split('\n')[0]?.trim() || undefined;
}
