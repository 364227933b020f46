// node --test tests/browser/benchdoc.test.mjs
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BEGIN, END, spliceSection, validLabel } from './benchdoc.mjs';

const head = '# Benchmarks\n\nServer figures.\n';

test('a file without the section gets it appended, with the block', () => {
  const out = spliceSection(head, 'before', '| a |\n', '## In the browser\n\nIntro.');
  assert.ok(out.startsWith(head), 'the rest is kept');
  assert.match(out, /## In the browser\n\nIntro\.\n\n<!-- bench-browser:run before -->\n\| a \|\n<!-- bench-browser:end-run before -->\n\n<!-- bench-browser:end -->\n$/);
  assert.equal(out.split(BEGIN).length, 2);
});

test('writing a label replaces only its block and keeps the others and the rest', () => {
  let doc = spliceSection(head, 'before', 'B1', 'Intro.');
  doc = spliceSection(doc, 'after', 'A1', 'ignored');
  doc += '\n## Later\n\nKept.\n';
  const out = spliceSection(doc, 'after', 'A2', 'ignored');
  assert.match(out, /run before -->\nB1\n/);
  assert.match(out, /run after -->\nA2\n/);
  assert.doesNotMatch(out, /A1/);
  assert.ok(out.indexOf('B1') < out.indexOf('A2'), 'before stays first');
  assert.ok(out.endsWith('\n## Later\n\nKept.\n'));
  assert.equal(spliceSection(out, 'before', 'B1', 'x'), out, 'writing the same figures again changes nothing');
  const again = spliceSection(out, 'before', 'B2', 'x');
  assert.match(again, /run before -->\nB2\n/);
  assert.match(again, /run after -->\nA2\n/);
});

test('broken markers and bad labels are refused', () => {
  assert.throws(() => spliceSection(`${head}${BEGIN}\n`, 'before', 'x', 'i'), /broken/);
  assert.throws(() => spliceSection(`${head}${END}\n${BEGIN}\n`, 'before', 'x', 'i'), /broken/);
  assert.throws(() => spliceSection(head, 'Before run', 'x', 'i'), /label/);
  assert.ok(validLabel('after-2'));
  assert.ok(!validLabel(''));
});
