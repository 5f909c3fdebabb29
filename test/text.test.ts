import { describe, expect, it } from 'vitest';
import { buildSmsText, normaliseWhitespace } from '../src/message/text.js';

describe('SMS text from an email (basic)', () => {
  it('keeps single line breaks, collapses spaces and blank-line runs, trims', () => {
    expect(normaliseWhitespace('  Server\t down  \r\n\r\n\r\n\r\nat  09:00 \nbye  ')).toBe('Server down\n\nat 09:00\nbye');
  });

  it('prefers the text part', () => {
    const result = buildSmsText({ subject: 's', text: 'plain words', html: '<p>html words</p>' });
    expect(result).toMatchObject({ ok: true, text: 'plain words' });
  });

  it('falls back to HTML converted to text', () => {
    const result = buildSmsText({ subject: 's', text: undefined, html: '<p>Disk <b>full</b></p><p>on db1</p>' });
    expect(result).toMatchObject({ ok: true, text: 'Disk full\n\non db1' });
  });

  it('has no text when the body is only whitespace', () => {
    expect(buildSmsText({ subject: 's', text: ' \n\t ', html: undefined })).toEqual({ ok: false, reason: 'no_text' });
  });
});
