import { describe, expect, it } from 'vitest';
import { parseCsv, parseNdjson, toCsv, type CsvResult } from '../src/core/csv-ndjson.js';

/** The rows of an ok result as [line, fields] pairs, or a failure. */
function rowsOf(result: CsvResult): [number, Record<string, string>][] {
  if (!result.ok) throw new Error(`expected ok, got ${JSON.stringify(result.errors)}`);
  return result.rows.map((row) => [row.line, { ...row.fields }]);
}

describe('parseCsv: accepted', () => {
  it.each<[string, string, string[], [number, Record<string, string>][]]>([
    ['plain, LF', 'number,name\n+4520123456,Ann\n+4520123457,Bo\n', ['number', 'name'], [[2, { number: '+4520123456', name: 'Ann' }], [3, { number: '+4520123457', name: 'Bo' }]]],
    ['CRLF', 'number,name\r\n1,Ann\r\n2,Bo\r\n', ['number', 'name'], [[2, { number: '1', name: 'Ann' }], [3, { number: '2', name: 'Bo' }]]],
    ['no final line break', 'a,b\n1,2', ['a', 'b'], [[2, { a: '1', b: '2' }]]],
    ['a BOM is stripped', '\ufeffnumber,name\n1,Ann\n', ['number', 'name'], [[2, { number: '1', name: 'Ann' }]]],
    ['quoted fields with commas', 'a,b\n"x, y","z"\n', ['a', 'b'], [[2, { a: 'x, y', b: 'z' }]]],
    ['doubled quotes', 'a,b\n"say ""hi""",""""\n', ['a', 'b'], [[2, { a: 'say "hi"', b: '"' }]]],
    ['a line break inside quotes keeps the starting line', 'a,b\n"one\ntwo\r\nthree",x\n4,y\n', ['a', 'b'], [[2, { a: 'one\ntwo\r\nthree', b: 'x' }], [5, { a: '4', b: 'y' }]]],
    ['empty fields', 'a,b,c\n,,\n"",x,\n', ['a', 'b', 'c'], [[2, { a: '', b: '', c: '' }], [3, { a: '', b: 'x', c: '' }]]],
    ['empty lines are skipped but counted', 'a\n\n1\r\n\r\n2\n\n', ['a'], [[3, { a: '1' }], [5, { a: '2' }]]],
    ['header names are trimmed, values are not', ' a , b \n 1 , 2 \n', ['a', 'b'], [[2, { a: ' 1 ', b: ' 2 ' }]]],
    ['a quote inside an unquoted field is kept', 'size,note\n5" screen,ok\n', ['size', 'note'], [[2, { size: '5" screen', note: 'ok' }]]],
    ['unicode', 'navn\nÆble ø å 🚨\n', ['navn'], [[2, { navn: 'Æble ø å 🚨' }]]],
    ['only a header', 'a,b\n', ['a', 'b'], []],
    ['a lone CR ends a line', 'a\r1\r2', ['a'], [[2, { a: '1' }], [3, { a: '2' }]]],
    ['mixed line ends, CRLF inside quotes', 'a,b\r\n"x\r\ny",1\n\r2,"\r"\r\n3,z', ['a', 'b'], [[2, { a: 'x\r\ny', b: '1' }], [5, { a: '2', b: '\r' }], [7, { a: '3', b: 'z' }]]],
    ['a quoted value that starts with an escaped quote', 'a,b\n"""x""y",1\n', ['a', 'b'], [[2, { a: '"x"y', b: '1' }]]],
    ['a BOM before a quoted header', '\ufeff"a b",c\n1,2\n', ['a b', 'c'], [[2, { 'a b': '1', c: '2' }]]],
  ])('%s', (_name, text, header, rows) => {
    const result = parseCsv(text);
    expect(result.ok && result.header).toEqual(header);
    expect(rowsOf(result)).toEqual(rows);
  });

  it('a column called __proto__ is an ordinary field', () => {
    const result = parseCsv('__proto__,constructor\nx,y\n');
    if (!result.ok) throw new Error('expected ok');
    expect(result.rows[0]?.fields['__proto__']).toBe('x');
    expect(result.rows[0]?.fields['constructor']).toBe('y');
    expect(Object.keys(result.rows[0]?.fields ?? {})).toEqual(['__proto__', 'constructor']);
  });
});

describe('parseCsv: refused, with line numbers', () => {
  it.each<[string, string, { line: number; message: string }[]]>([
    ['an empty file', '', [{ line: 1, message: 'the file is empty: expected a header line' }]],
    ['only a BOM and blank lines', '\ufeff\n\n', [{ line: 1, message: 'the file is empty: expected a header line' }]],
    ['ragged rows, every one reported', 'a,b\n1,2\n3\n4,5,6\n7,8\n', [{ line: 3, message: '1 field, but the header has 2' }, { line: 4, message: '3 fields, but the header has 2' }]],
    ['a ragged row after a multi-line field', 'a,b\n"x\ny",1\n2\n', [{ line: 4, message: '1 field, but the header has 2' }]],
    ['an unclosed quote', 'a,b\n1,2\n"open,3\n4,5\n', [{ line: 3, message: 'field 1: the quoted field opened on line 3 is never closed' }]],
    ['text after a closing quote', 'a,b\n"x"y,1\n', [{ line: 2, message: 'field 1: text after the closing quote (a quote inside a quoted field is written "")' }]],
    ['text after a closing quote, in a later field of a multi-line record', 'a,b,c\n1,"two\nlines",3\n4,"five\nsix" ,7\n', [{ line: 4, message: 'field 2: text after the closing quote (a quote inside a quoted field is written "")' }]],
    ['an unclosed quote in a later field, after a multi-line one', 'a,b,c\n"x\ny",2,"open\n4,5\n', [{ line: 3, message: 'field 3: the quoted field opened on line 3 is never closed' }]],
    ['a duplicate column', 'number,name,number\n1,2,3\n', [{ line: 1, message: 'column "number" appears twice in the header' }]],
    ['a column without a name', 'number,,name\n1,2,3\n', [{ line: 1, message: 'column 2 has no name in the header' }]],
  ])('%s', (_name, text, errors) => {
    expect(parseCsv(text)).toEqual({ ok: false, errors });
  });
});

describe('parseCsv: 100 000 rows', () => {
  it('reads every row with its line, quoted and multi-line fields included', () => {
    const lines = ['number,first_name,note'];
    for (let i = 0; i < 100_000; i++) {
      // Every 1000th row has a quoted field spanning two lines, so later rows are one line further down.
      lines.push(i % 1000 === 0 ? `+45${20_000_000 + i},"Ann ""${i}""","two\nlines"` : `+45${20_000_000 + i},Name${i},plain`);
    }
    const result = parseCsv(lines.join('\r\n'));
    if (!result.ok) throw new Error(JSON.stringify(result.errors.slice(0, 3)));
    expect(result.rows).toHaveLength(100_000);
    expect(result.rows[0]).toMatchObject({ line: 2, fields: { number: '+4520000000', first_name: 'Ann "0"', note: 'two\nlines' } });
    // Row 54 321 starts on line 2 + 54 321 + 55 extra lines (rows 0, 1000, …, 54 000 span two).
    expect(result.rows[54_321]).toMatchObject({ line: 2 + 54_321 + 55, fields: { number: '+4520054321', first_name: 'Name54321', note: 'plain' } });
    expect(result.rows[99_999]).toMatchObject({ line: 2 + 99_999 + 100, fields: { number: '+4520099999' } });
  });
});

describe('parseNdjson', () => {
  it('reads one object per line, skipping blank lines, with CRLF and a BOM', () => {
    const result = parseNdjson('\ufeff{"number":"+4520123456","purpose":"newsletter"}\r\n\r\n  \n{"number":"+4520123457"}');
    expect(result).toEqual({
      ok: true,
      rows: [
        { line: 1, value: { number: '+4520123456', purpose: 'newsletter' } },
        { line: 4, value: { number: '+4520123457' } },
      ],
    });
  });

  it.each<[string, string, number, RegExp]>([
    ['broken JSON', '{"a":1}\n{"a":\n', 2, /^not JSON: /],
    ['an array', '{"a":1}\n\n[1,2]\n', 3, /^expected a JSON object, found an array$/],
    ['a string', '"x"', 1, /^expected a JSON object, found a string$/],
    ['null', 'null', 1, /^expected a JSON object, found null$/],
    ['a number', '{"a":1}\n42', 2, /^expected a JSON object, found a number$/],
  ])('refuses %s with its line', (_name, text, line, message) => {
    const result = parseNdjson(text);
    if (result.ok) throw new Error('expected errors');
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]?.line).toBe(line);
    expect(result.errors[0]?.message).toMatch(message);
  });

  it('reports every bad line', () => {
    const result = parseNdjson('x\n{}\ny\n');
    expect(result.ok === false && result.errors.map((e) => e.line)).toEqual([1, 3]);
  });

  it('an empty file is no rows', () => {
    expect(parseNdjson('')).toEqual({ ok: true, rows: [] });
  });
});

describe('toCsv', () => {
  it('quotes only where needed, CRLF line ends', () => {
    const csv = toCsv(['number', 'name', 'note'], [
      { number: '+4520123456', name: 'Ann', note: 'plain' },
      { number: '+4520123457', name: 'Bo, Jr.', note: 'said "hi"\nthen left' },
      { number: 4520123458, name: ' padded ', note: null },
      { number: '+4520123459', extra: 'ignored' },
    ]);
    expect(csv).toBe(
      'number,name,note\r\n' +
        '+4520123456,Ann,plain\r\n' +
        '+4520123457,"Bo, Jr.","said ""hi""\nthen left"\r\n' +
        '4520123458," padded ",\r\n' +
        '+4520123459,,\r\n',
    );
  });

  it('does not read inherited properties as values', () => {
    expect(toCsv(['constructor', 'toString'], [{}])).toBe('constructor,toString\r\n,\r\n');
  });

  it.each<[string, string[], Record<string, string>[]]>([
    ['awkward values', ['a', 'b'], [{ a: '"', b: ',' }, { a: '\r\n', b: '' }, { a: ' x', b: 'æ🚨' }]],
    ['one column with an empty value (not an empty line)', ['a'], [{ a: 'x' }, { a: '' }, { a: 'y' }]],
    ['awkward header names', ['a,b', 'say "c"'], [{ 'a,b': '1', 'say "c"': '2' }]],
  ])('round-trips through parseCsv: %s', (_name, header, rows) => {
    const result = parseCsv(toCsv(header, rows));
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    expect(result.header).toEqual(header);
    expect(result.rows.map((row) => ({ ...row.fields }))).toEqual(rows);
  });
});
