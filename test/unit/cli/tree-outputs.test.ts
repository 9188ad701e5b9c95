import { describe, expect, it } from 'vitest';
import { treePartAt } from '../../../src/cli/tree-outputs.js';
import type { Config } from '../../../src/config/model.js';

const config = {
  file: '/w/images.yaml',
  root: '/w',
  templatesDir: '/w/templates',
  images: [{ name: 'base', context: 'images/base' }, { name: 'tools' }],
} as unknown as Config;

describe('treePartAt: an output path that is part of the tree', () => {
  it('names the images file, the templates directory and a build context', () => {
    expect(treePartAt(config, '/w/images.yaml')).toBe('the images file itself');
    expect(treePartAt(config, '/w/templates/x/Dockerfile')).toBe('the templates directory (templates)');
    expect(treePartAt(config, '/w/images/base/Dockerfile')).toBe(
      'the build context of image base (images/base)',
    );
    expect(treePartAt(config, '/w/images/base')).toBe('the build context of image base (images/base)');
  });

  it('leaves everything else alone', () => {
    for (const path of [
      '/w/plan.json',
      '/w/images/tools/Dockerfile',
      '/w/templates-out/x',
      '/w/images/basement/x',
      '/tmp/x',
    ])
      expect(treePartAt(config, path), path).toBeNull();
  });
});
