import test from 'ava';
import fc from 'fast-check';
import { fileNameFrom, fileNameProblem, normalizeEmail } from '../src/index.ts';

test('ordinary names pass the rule, UTF-8 included', (t) => {
  for (const name of ['report.pdf', 'Résumé 2026.docx', '日本語のファイル.txt', '😀'.repeat(255), 'a b']) {
    t.is(fileNameProblem(name), undefined, name);
  }
});

test('names that hide what they are, or cannot be stored, are refused', (t) => {
  const refused = {
    empty: '',
    'too long': 'a'.repeat(256),
    'C1 control': 'report\u0085.pdf',
    NUL: 'a\u0000b',
    'right-to-left override': 'invoice\u202Efdp.exe',
    'isolate': 'x\u2067y',
    'zero-width space alone': '\u200b',
    'white space alone': ' \u3000 ',
    'combining mark alone': '\u0301',
    'lone surrogate': 'a\ud800b',
    slash: 'a/b',
    backslash: 'a\\b',
    dot: '.',
    'dot dot': '..',
    'leading space': ' a',
  };
  for (const [what, name] of Object.entries(refused)) t.truthy(fileNameProblem(name), what);
});

test('an upload name is cleaned, not refused: the last path segment without what the rule forbids', (t) => {
  t.is(fileNameFrom('report\u0085.pdf'), 'report.pdf');
  t.is(fileNameFrom('invoice\u202Efdp.exe'), 'invoicefdp.exe');
  t.is(fileNameFrom('C:\\Users\\ada\\notes.txt'), 'notes.txt');
  t.is(fileNameFrom('photos/2026/cat.jpg'), 'cat.jpg');
  t.is(fileNameFrom('null'), 'untitled');
  t.is(fileNameFrom('\u200b'), 'untitled');
  t.is(fileNameFrom(undefined), 'untitled');
  t.is(Array.from(fileNameFrom('😀'.repeat(300))).length, 255);
});

test('whatever a client sends, the cleaned name passes the rule the files service applies', (t) => {
  const anyText = fc.oneof(fc.string({ unit: 'binary', maxLength: 400 }), fc.string({ unit: 'grapheme', maxLength: 400 }), fc.string({ maxLength: 300 }));
  fc.assert(fc.property(anyText, (raw) => fileNameProblem(fileNameFrom(raw)) === undefined), { numRuns: 2_000 });
  t.pass();
});

test('emails have one form: case, compatibility characters and the Kelvin sign fold together', (t) => {
  t.is(normalizeEmail('Ada@Example.COM'), 'ada@example.com');
  t.is(normalizeEmail('\u212Aelvin@example.com'), normalizeEmail('kelvin@example.com'));
  t.is(normalizeEmail('ｆｕｌｌ@example.com'), 'full@example.com');
  t.is(normalizeEmail('stra\u00dfe@example.com'), normalizeEmail('STRASSE@example.com'));
  t.is(normalizeEmail('thr\u0130-x@example.com'), normalizeEmail(normalizeEmail('THR\u0130-X@example.com')));
});

test('normalising twice changes nothing', (t) => {
  t.is(normalizeEmail(normalizeEmail('\ufe49')), normalizeEmail('\ufe49'), 'a compatibility mapping that yields an edge space');
  fc.assert(fc.property(fc.oneof(fc.string({ unit: 'grapheme', maxLength: 80 }), fc.string({ unit: 'binary', maxLength: 40 })), (raw) => normalizeEmail(normalizeEmail(raw)) === normalizeEmail(raw)), { numRuns: 20_000 });
  t.pass();
});
