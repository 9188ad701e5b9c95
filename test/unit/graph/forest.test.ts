import { describe, expect, it } from 'vitest';
import { indexByParent } from '../../../src/graph/forest.js';

describe('indexByParent', () => {
  it('groups children under their parent in list order and keeps parentless items as roots', () => {
    const items = [
      { name: 'base', parent: null },
      { name: 'python', parent: 'base' },
      { name: 'keystone', parent: 'python' },
      { name: 'nova', parent: 'python' },
      { name: 'tools', parent: null },
    ];
    const { children, roots } = indexByParent(items);
    expect(roots.map((i) => i.name)).toEqual(['base', 'tools']);
    expect(children.get('base')?.map((i) => i.name)).toEqual(['python']);
    expect(children.get('python')?.map((i) => i.name)).toEqual(['keystone', 'nova']);
    expect(children.has('keystone')).toBe(false);
    expect([...children.keys()].sort()).toEqual(['base', 'python']);
  });

  it('makes an item whose parent is not in the list a root (a partial plan)', () => {
    const items = [
      { name: 'keystone', parent: 'python' },
      { name: 'keystone-api', parent: 'keystone' },
      { name: 'nova', parent: 'python' },
    ];
    const { children, roots } = indexByParent(items);
    expect(roots.map((i) => i.name)).toEqual(['keystone', 'nova']);
    expect(children.get('keystone')?.map((i) => i.name)).toEqual(['keystone-api']);
    expect(children.has('python')).toBe(false);
  });

  it('returns the items themselves, not copies', () => {
    const item = { name: 'a', parent: null, extra: 1 };
    expect(indexByParent([item]).roots[0]).toBe(item);
  });
});
