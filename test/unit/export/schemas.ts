// The vendored official schemas (test/fixtures/schemas, see its README), compiled once.
// All three declare draft-07, so Ajv's default class; `strict: false` because third-party
// schemas carry keywords such as `markdownDescription`.
import { readFileSync } from 'node:fs';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';

const ajv = new Ajv.default({ strict: false, allErrors: true, validateSchema: false });
addFormats.default(ajv);

function load(name: string) {
  const schema = JSON.parse(readFileSync(new URL(`../../fixtures/schemas/${name}`, import.meta.url), 'utf8'));
  return ajv.compile(schema);
}

const validators = {
  githubWorkflow: load('github-workflow.json'),
  gitlabCi: load('gitlab-ci.json'),
  dockerBake: load('docker-bake.json'),
  spdx: load('spdx-2.3.json'),
};

/** Schema errors as readable lines; empty when the document is valid. */
export function schemaErrors(which: keyof typeof validators, document: unknown): string[] {
  const validate = validators[which];
  if (validate(document)) return [];
  return (validate.errors ?? []).map(
    (e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`,
  );
}
