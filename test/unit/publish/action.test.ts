// action.yml (repository root): the composite action's shape, as GitHub reads it.
// https://docs.github.com/en/actions/sharing-automations/creating-actions/metadata-syntax-for-github-actions
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

interface Step {
  name?: string;
  id?: string;
  uses?: string;
  run?: string;
  shell?: string;
  with?: Record<string, string>;
  env?: Record<string, string>;
}

/** A GitHub expression as written in YAML: `${{ inputs.file }}`. */
const expression = (text: string) => `\${{ ${text} }}`;

const action = parse(await readFile(new URL('../../../action.yml', import.meta.url), 'utf8')) as {
  name: string;
  description: string;
  inputs: Record<string, { description: string; required?: boolean; default?: string }>;
  outputs: Record<string, { description: string; value: string }>;
  runs: { using: string; steps: Step[] };
};

describe('action.yml', () => {
  it('has the required metadata and is a composite action', () => {
    expect(action.name).toBeTypeOf('string');
    expect(action.description).toBeTypeOf('string');
    expect(action.runs.using).toBe('composite');
    expect(Object.keys(action.inputs)).toEqual(
      expect.arrayContaining(['file', 'target', 'token', 'node-version']),
    );
    for (const [name, input] of Object.entries(action.inputs)) {
      expect(input.description, name).toBeTypeOf('string');
    }
    expect(action.outputs.plan!.value).toBe(expression('steps.plan.outputs.plan'));
  });

  it('gives every run step a shell (composite actions require it) and every step either uses or run', () => {
    for (const step of action.runs.steps) {
      expect(Boolean(step.uses) !== Boolean(step.run), step.name).toBe(true);
      if (step.run) expect(step.shell, step.name).toBe('bash');
    }
  });

  it('sets up Node, installs arbor from the action path, plans, then comments with the saved plan', () => {
    const [setup, install, plan, comment] = action.runs.steps;
    expect(setup!.uses).toMatch(/^actions\/setup-node@v\d+$/);
    expect(setup!.with!['node-version']).toBe(expression('inputs.node-version'));
    expect(install!.run).toContain('npm install -g "$GITHUB_ACTION_PATH"');
    expect(plan!.run).toMatch(/arbor plan -f "\$ARBOR_FILE" --out "\$plan"/);
    expect(plan!.env!.ARBOR_FILE).toBe(expression('inputs.file'));
    expect(comment!.run).toContain('comment --github --plan "$ARBOR_PLAN" --target "$ARBOR_TARGET"');
    expect(comment!.env!.GITHUB_TOKEN).toBe(expression('inputs.token'));
  });

  it('never splices inputs into script text (script injection)', () => {
    for (const step of action.runs.steps)
      expect(step.run ?? '', step.name).not.toContain(expression('').slice(0, 3));
  });
});
