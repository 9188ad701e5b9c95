// A DOCKER_CONFIG directory whose config.json holds basic credentials for one registry host: how
// the CLI tests give arbor (and docker, skopeo) a login without `docker login`.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function dockerConfigFor(host: string, user: string, password: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'arbor-docker-config-'));
  const auth = Buffer.from(`${user}:${password}`).toString('base64');
  await writeFile(join(dir, 'config.json'), JSON.stringify({ auths: { [host]: { auth } } }));
  return dir;
}
