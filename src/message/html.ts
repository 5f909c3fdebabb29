import { convert, type FormatCallback } from 'html-to-text';

/*
 * HTML → text as a person would type it into an SMS: paragraphs separated by a
 * blank line, links as "text (url)", headings in their own case, table rows on
 * one line with cells joined by " | ", images dropped.
 */

const tableRow: FormatCallback = (elem, walk, builder) => {
  builder.openBlock({ leadingLineBreaks: 1 });
  walk(elem.children, builder);
  builder.closeBlock({ trailingLineBreaks: 1 });
};

/** The DOM sibling links html-to-text's type declarations leave out. */
interface Sibling {
  type: string;
  prev: Sibling | null;
}

const tableCell: FormatCallback = (elem, walk, builder) => {
  let prev = (elem as unknown as Sibling).prev;
  while (prev && prev.type === 'text') prev = prev.prev;
  if (prev) builder.addInline(' | ');
  walk(elem.children, builder);
};

/** What a reader of the mail never sees is not sent either (a hidden preheader, a tracking block, a smuggled line). */
const hidden = [
  'noscript',
  'template',
  '[hidden]',
  '[style*="display:none" i]',
  '[style*="display: none" i]',
  '[style*="visibility:hidden" i]',
  '[style*="visibility: hidden" i]',
  '[style*="mso-hide:all" i]',
  '[style*="mso-hide: all" i]',
].map((selector) => ({ selector, format: 'skip' }));

const heading = (selector: string) => ({ selector, options: { uppercase: false, leadingLineBreaks: 2, trailingLineBreaks: 2 } });

export function htmlToText(html: string): string {
  return convert(html, {
    wordwrap: false,
    formatters: { tableRow, tableCell },
    selectors: [
      { selector: 'a', options: { hideLinkHrefIfSameAsText: true, linkBrackets: ['(', ')'], ignoreHref: false } },
      { selector: 'img', format: 'skip' },
      { selector: 'style', format: 'skip' },
      { selector: 'head', format: 'skip' },
      heading('h1'),
      heading('h2'),
      heading('h3'),
      heading('h4'),
      heading('h5'),
      heading('h6'),
      { selector: 'table', format: 'block', options: { leadingLineBreaks: 2, trailingLineBreaks: 2 } },
      { selector: 'tr', format: 'tableRow' },
      { selector: 'th', format: 'tableCell' },
      { selector: 'td', format: 'tableCell' },
      { selector: 'ul', options: { itemPrefix: '- ' } },
      // A rule ends the line above it: Outlook draws one over the quoted "From:" block, which must start a line to be recognised.
      { selector: 'hr', format: 'block', options: { leadingLineBreaks: 1, trailingLineBreaks: 1 } },
      ...hidden,
    ],
  });
}
