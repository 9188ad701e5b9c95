// Several --template-override files merged as kolla-build merges them (KollaWorker._merge_overrides).
import { describe, expect, it } from 'vitest';
import { mergeOverrides } from '../../../src/kolla/import.js';

describe('mergeOverrides', () => {
  it("one text under the first file's name, later files without their extends lines", () => {
    const merged = mergeOverrides([
      { name: 'a.j2', text: '{% extends parent_template %}\n{% set x_packages_append = ["a"] %}\n' },
      { name: 'b.j2', text: '{% extends parent_template %}\n{% set x_packages_append = ["b"] %}\n' },
      { name: 'c.j2', text: '  {%- extends parent_template -%}\n{% block footer %}c{% endblock %}\n' },
    ]);
    expect(merged).toEqual([
      {
        name: 'a.j2',
        text:
          '{% extends parent_template %}\n{% set x_packages_append = ["a"] %}\n' +
          '{% set x_packages_append = ["b"] %}\n{% block footer %}c{% endblock %}\n',
      },
    ]);
  });

  it('one file or none: as given', () => {
    expect(mergeOverrides([])).toEqual([]);
    const one = [{ name: 'a.j2', text: '{% extends parent_template %}\n' }];
    expect(mergeOverrides(one)).toEqual(one);
  });
});
