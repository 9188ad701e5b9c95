// Which engines arbor exports from through the Engine API (the local default one) and which
// through the docker CLI (everything the CLI resolves itself: other hosts, contexts, a binary).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { localEngineSocket } from '../../../src/execute/builders/engine-api.js';

const configDir = (config: object) => {
  const dir = mkdtempSync(join(tmpdir(), 'arbor-docker-config-'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return dir;
};

describe('localEngineSocket', () => {
  it('DOCKER_HOST unix:// is that socket; tcp:// and ssh:// go through the CLI', () => {
    expect(localEngineSocket({ DOCKER_HOST: 'unix:///run/user/1000/docker.sock' })).toBe(
      '/run/user/1000/docker.sock',
    );
    expect(localEngineSocket({ DOCKER_HOST: 'tcp://10.0.0.5:2376' })).toBeNull();
    expect(localEngineSocket({ DOCKER_HOST: 'ssh://builder@host' })).toBeNull();
  });

  it('a docker context chosen (env or config.json) or ARBOR_DOCKER goes through the CLI', () => {
    expect(
      localEngineSocket({ DOCKER_HOST: 'unix:///x.sock', ARBOR_DOCKER: '/usr/local/bin/docker' }),
    ).toBeNull();
    expect(localEngineSocket({ DOCKER_CONTEXT: 'remote' })).toBeNull();
    expect(localEngineSocket({ DOCKER_CONFIG: configDir({ currentContext: 'remote' }) })).toBeNull();
  });

  it('otherwise the default socket, when it is there', () => {
    const env = { DOCKER_CONFIG: configDir({ auths: {} }), DOCKER_CONTEXT: 'default' };
    expect(localEngineSocket(env)).toBe('/var/run/docker.sock');
  });
});
