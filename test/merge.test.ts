import { describe, expect, it } from 'vitest';
import { fillMerge, parseMerge } from '../src/message/merge.js';

const template = (text: string) => {
  const parsed = parseMerge(text);
  if (!parsed.ok || !parsed.template) throw new Error(`no template in ${text}`);
  return parsed.template;
};

describe('merge fields', () => {
  it('no {{ is no template, a stray }} included: the mail behaves as before', () => {
    expect(parseMerge('Server down }} again')).toEqual({ ok: true, template: undefined });
  });

  it('fills fields and defaults; a value is never read as a placeholder; line breaks in a value become spaces', () => {
    const t = template('Hi {{ first_name | default: "there" }}, {{team}}!');
    expect(t.fields).toEqual(['first_name', 'team']);
    const values: Record<string, string> = { first_name: '{{team}}\nX', team: 'U14' };
    expect(fillMerge(t, (name) => values[name], { transliterate: false })).toEqual({ ok: true, text: 'Hi {{team}} X, U14!' });
    expect(fillMerge(t, (name) => ({ team: 'A' } as Record<string, string>)[name], { transliterate: false })).toEqual({ ok: true, text: 'Hi there, A!' });
    expect(fillMerge(template("{{a|default:'x'}}"), () => '  ', { transliterate: false })).toEqual({ ok: true, text: 'x' });
  });

  it('names each missing field once', () => {
    expect(fillMerge(template('{{a}} {{b}} {{a}}'), () => undefined, { transliterate: false })).toEqual({ ok: false, missing: ['a', 'b'] });
  });

  it('transliterates values like the rest of the SMS when the setup does', () => {
    expect(fillMerge(template('Hi {{n}}'), () => 'O’Brien', { transliterate: true })).toEqual({ ok: true, text: "Hi O'Brien" });
  });

  it('refuses unbalanced braces, unknown filters, a filter without its value, and what is no field name', () => {
    const problem = (text: string) => {
      const parsed = parseMerge(text);
      return parsed.ok ? undefined : parsed.problem;
    };
    expect(problem('Hi {{first_name')).toMatch(/^unbalanced braces: "\{\{" without "\}\}"/);
    expect(problem('Hi {{a}} and b}}')).toMatch(/^unbalanced braces: "\}\}" without "\{\{"/);
    expect(problem('Hi {{a {{b}}')).toMatch(/^unbalanced braces/);
    expect(problem('Hi {{name | upcase}}')).toBe('{{name | upcase}}: unknown filter "upcase" (the only filter is default: "...")');
    expect(problem('Hi {{name | default}}')).toMatch(/the default filter needs a value/);
    expect(problem('Hi {{3 + 4}}')).toMatch(/is not a merge field|is not a field name/);
  });
});
