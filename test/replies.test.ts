import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadReplyCorpus, verdict } from '../bench/reply-corpus.js';
import { stripNonMessage } from '../src/message/strip.js';
import { buildSmsText } from '../src/message/text.js';

/*
 * The reply corpus (test/fixtures/replies, see bench/reply-corpus.ts): public
 * reply-parser fixtures and cases in their spirit. Each must keep its required
 * fragments and lose its forbidden ones. bench/text compares the same corpus
 * with planer and email-reply-parser.
 */
const corpus = loadReplyCorpus(join(import.meta.dirname, 'fixtures', 'replies'));

describe('the reply corpus', () => {
  it('has a tuned and a held-out part, each case with its source', () => {
    expect(corpus.filter((c) => c.part === 'seen').length).toBeGreaterThanOrEqual(60);
    expect(corpus.filter((c) => c.part === 'unseen').length).toBeGreaterThanOrEqual(60);
    for (const c of corpus) expect([c.name, c.source !== '' && c.require.length > 0]).toEqual([c.name, true]);
  });

  it.each(corpus.filter((c) => c.part === 'seen').map((c) => [`seen/${c.name}`, c] as const))('%s', (_name, c) => {
    const output = stripNonMessage(c.body).text;
    expect(verdict(c, output)).toMatchObject({ missing: [], leftover: [] });
  });

  // The held-out part is measured, not tuned on: a floor at the score it had
  // when the rules last changed (bench:text lists the misses), so a rule change
  // that loses held-out cases fails here.
  it('keeps the held-out part at or above 144 of 151', () => {
    const unseen = corpus.filter((c) => c.part === 'unseen');
    const misses = unseen.filter((c) => !verdict(c, stripNonMessage(c.body).text).ok).map((c) => c.name);
    expect(unseen.length).toBe(151);
    expect(unseen.length - misses.length, misses.join(', ')).toBeGreaterThanOrEqual(144);
  });
});

const strip = (text: string) => stripNonMessage(text);
const kept = (text: string) => strip(text).text.replace(/\n{2,}/g, '\n').trim();

describe('each class of issue 14', () => {
  it('1: text below the quote is kept, and the quote goes even when the header is the first line', () => {
    expect(kept('On 04/02/2012 06:26 PM, Megan One wrote:\n> Hi\nHello')).toBe('Hello');
    expect(kept('On Mon, 5 Jan 2026, Ops <ops@example.test> wrote:\n> Can we meet at 10?\nYes.\n\n> Which room?\nB.')).toBe('Yes.\nB.');
  });

  it('2: a quote header wrapped over several lines', () => {
    expect(kept('Merged.\n\nOn Dec 16, 2011, at 12:47 PM, Corey Donohoe\n<reply@reply.github.com>\nwrote:\n\n> ok')).toBe('Merged.');
    expect(kept('Fine\n\nOn Nov 21, 2014,\nat 10:18,\nJohn Doe <john@example.com> wrote:\n\n> Lunch?')).toBe('Fine');
    expect(kept('Det passer\n\nman. 5. jan. 2026 kl. 10:02 skrev Kari <kari@example.no\n>:\n\n> I morgen?')).toBe('Det passer');
  });

  it('3: decorated or colon-less headers with an unquoted original below', () => {
    expect(kept('Yes.\n\n------On 12/29/1987 17:32 PM, Julius Caesar wrote-----\n\nBrunch?')).toBe('Yes.');
    expect(kept('Paid.\n\n---- On Wed, 24 Feb 2021 10:11:12 +0100 Julius <j@example.com> wrote ----\n\nPlease pay')).toBe('Paid.');
    expect(kept('Got it\n\n--- On Tue, 4/3/12, Bob <bob@example.com> wrote:\n\nPackage?')).toBe('Got it');
    expect(kept('Oui\n\n- Le 2021-04-09 23:25, Toby Flenderson a écrit :\n> Bonjour')).toBe('Oui');
    expect(kept('Approved\n\nOn Mon, Jan 5, 2026 at 10:02 AM, John Doe <john@doe.com> wrote\n\nApprove?')).toBe('Approved');
  });

  it('4: header blocks (French Hotmail, Date: first, German "Name schrieb:", <hr> before From:, Outlook\'s dashed rule)', () => {
    expect(kept('Lorem\n\nDe : Brendan [mailto:b@example.com]\nEnvoyé le :vendredi 23 janvier 2015 16:39\nÀ : Camille\nObjet : Suivi\n\nBlah')).toBe('Lorem');
    expect(kept('Blah\n\nDate: Wed, 16 May 2012 00:15:02 -0600\nTo: k@example.com')).toBe('Blah');
    expect(kept('Passt\n\nMax Mustermann <max@example.de> schrieb:\n\n> Termin?')).toBe('Passt');
    expect(kept('Ok.\n\n-----------------------------\n*From:* Jane <jane@example.com>\n*Sent:* Friday\n*To:* Ops\n\nMonday?')).toBe('Ok.');
    const html = '<p>Approved.</p><p>Best regards<hr><b>From:</b> Jane &lt;jane@example.com&gt;<br><b>Sent:</b> Friday<br><b>To:</b> Ops</p><p>Please approve</p>';
    expect(buildSmsText({ subject: '', text: undefined, html })).toMatchObject({ ok: true, text: 'Approved.\n\nBest regards' });
  });

  it('5: separators and footers in the languages we claim', () => {
    expect(kept('Ordnet\n\n-------- Oprindelig besked --------\nFra: Jens\n\nKan du?')).toBe('Ordnet');
    expect(kept('Unterwegs\n\nGesendet von Outlook für Android')).toBe('Unterwegs');
    expect(kept('Je regarde\n\nEnvoyé à partir de Outlook pour iOS')).toBe('Je regarde');
    expect(kept('On my way\n\nSent from TypeApp')).toBe('On my way');
    expect(kept('Ik bel\n\nVerstuurd vanaf mijn iPhone')).toBe('Ik bel');
  });

  it('6: the person\'s own words are not taken for a footer or a quote', () => {
    expect(kept('Here is another email\n\nSent from my desk, is much easier then my mobile phone.')).toBe('Here is another email\nSent from my desk, is much easier then my mobile phone.');
    expect(kept('Run this:\n>>> import os\nIt prints the path.')).toBe('Run this:\n>>> import os\nIt prints the path.');
    expect(kept('Visit us\n>>> >>>  http://www.example.com <<<\nClick above')).toBe('Visit us\n>>> >>>  http://www.example.com <<<\nClick above');
  });

  it.each([
    ['Italian', 'Il giorno lun 4 lug 2022 alle ore 08:12 Rick <rick@example.com> ha scritto:'],
    ['Polish', 'W dniu 7 stycznia 2015 15:24 użytkownik Paweł <p@example.com> napisał:'],
    ['Portuguese', 'Em seg., 5 de jan. de 2026 às 10:02, João <joao@example.pt> escreveu:'],
    ['Finnish', 'Matti Meikäläinen kirjoitti 5.1.2026 klo 10.02:'],
    ['Russian', '5 янв. 2026 г., в 10:02, Иван <ivan@example.ru> написал:'],
    ['Vietnamese', 'Vào 10:02 Th 2, 5 thg 1, 2026 Nguyen <a@example.vn> đã viết:'],
    ['Japanese', '2016/11/08 14:26、Test user <test@example.com> のメッセージ:'],
    ['Gmail numeric date', '2014-03-20 8:48 GMT+01:00 Rémi Dolan <do_not_reply@dolan.com>:'],
  ])('7: a %s quote header', (_language, header) => {
    expect(kept(`Reply\n\n${header}\n\n> Question`)).toBe('Reply');
  });

  it('7: a name-only signature and a mailing-list footer', () => {
    expect(kept('Hi folks\n\nHow do I clear a bucket?\n\n-Abhishek Kona\n\n')).toBe('Hi folks\nHow do I clear a bucket?');
    expect(kept('Restarted.\n\n--\nYou received this message because you are subscribed to the Google Groups "ops" group.')).toBe('Restarted.');
    expect(kept('Restarted.\n\nYou received this message because you are subscribed to the Google Groups "ops" group.\nTo unsubscribe from this group, send an email.')).toBe('Restarted.');
  });

  it('keeps a sign-off with the sender\'s name (as the mail corpus does)', () => {
    expect(kept('Ok.\n\nMed venlig hilsen\nJens Hansen')).toBe('Ok.\nMed venlig hilsen\nJens Hansen');
    expect(kept('Ok.\n\n/Peter')).toBe('Ok.\n/Peter');
    expect(kept('Done:\n\n- Restart')).toBe('Done:\n- Restart');
  });
});

describe('issue 25', () => {
  it('9: an attribution line directly above quoted text is never part of the SMS, however short its date', () => {
    // Answering a forwarded SMS: the phone got "Friday night.\n\nOn Mon, someone wrote:".
    expect(kept('Friday night.\n\nOn Mon, someone wrote:\n> Which night?')).toBe('Friday night.');
    expect(kept('Friday night.\n\nsomeone wrote:\n\n> Which night?')).toBe('Friday night.');
    expect(kept('Ok\n\nLe lun., Marie a écrit :\n> Quelle nuit ?')).toBe('Ok');
    expect(buildSmsText({ subject: '', text: 'Friday night.\n\nOn Mon, someone wrote:\n> Which night?', html: undefined })).toMatchObject({ ok: true, text: 'Friday night.' });
    // Not above a quote, the same words are the person's.
    expect(kept('Here is what she wrote:\nWe meet at 8.')).toBe('Here is what she wrote:\nWe meet at 8.');
  });

  it('a header with a time and an address closed by a colon needs no verb', () => {
    expect(kept('Da\n\nср, 30 апр. 2025 г. в 15:19, Иван <ivan@example.ru>:\n\nПривет')).toBe('Da');
    expect(kept('Yes\n\n11:00 AM, November 17, 2021, "John - Acme" <john@acme.example>:\n\nWhen?')).toBe('Yes');
    expect(kept('We meet at 10:30 in room B.\nBring the laptop.')).toBe('We meet at 10:30 in room B.\nBring the laptop.');
  });

  it('a Gmail header wrapped around a blank line, its "> wrote:" on a line of its own', () => {
    expect(kept('One\n\nOn Thu, 31 Mar 2016 at 11:16 Some One\n\n<\nmailto:Some One <one@example.com>\n> wrote:\n\n\nTwo')).toBe('One');
  });

  it('below a phone\'s footer is the mail answered, even with no header', () => {
    expect(kept('On my way\n\nSent from my Wiko RIDGE FAB 4G\n\nWhen do you come?')).toBe('On my way');
    expect(kept('Ok\n\nGet Outlook for iOS<https://aka.ms/o0ukef>\n________________________________\nFrom: Jane\nSent: Friday\n\nMonday?')).toBe('Ok');
    expect(kept('I sent it via courier\n\nYou get it Monday')).toBe('I sent it via courier\nYou get it Monday');
  });

  it('a mailing list\'s mailman footer goes with its rule', () => {
    expect(kept('Hallo\n\n_______________________________________________\nriak mailing list\nriak@lists.example.com\nhttp://lists.example.com/mailman/listinfo/riak')).toBe('Hallo');
  });

  it('a company\'s confidentiality notice under the signature goes; a sentence of the person\'s about it stays', () => {
    const notice = 'This email and any attachments are confidential. If you are not the intended recipient, please delete it and tell the sender.';
    expect(kept(`Approved.\n\nKind regards\nSarah\n\n${notice}`)).toBe('Approved.\nKind regards\nSarah');
    expect(strip(`Approved.\n\n${notice}`).removed).toEqual([{ class: 'disclaimer', lines: [3, 3], text: notice }]);
    expect(kept('Keep it confidential.\n\nOnly the intended recipient may read it.')).toBe('Keep it confidential.\nOnly the intended recipient may read it.');
    expect(kept(notice)).toBe(notice);
  });

  it('a header over an unquoted body and nothing else: the body goes without the header', () => {
    expect(strip('On 8 May 2017 17:34, "Andy" <andy@example.com> wrote:\n\nIt should be 2.0')).toMatchObject({ text: 'It should be 2.0', fellBack: false, removed: [{ class: 'quote_header' }] });
  });
});

describe('what was removed, and why', () => {
  it('lists each removed block with its class and lines', () => {
    const body = 'Yes, restart it.\n\nOn Mon, 5 Jan 2026 at 10:02, Ops <ops@example.test> wrote:\n> Server down?\n\nThanks\n\nSent from my iPhone';
    expect(strip(body)).toEqual({
      text: 'Yes, restart it.\n\n\nThanks\n',
      fellBack: false,
      removed: [
        { class: 'quote_header', lines: [3, 3], text: 'On Mon, 5 Jan 2026 at 10:02, Ops <ops@example.test> wrote:' },
        { class: 'quoted', lines: [4, 4], text: '> Server down?' },
        { class: 'footer', lines: [8, 8], text: 'Sent from my iPhone' },
      ],
    });
  });

  it('names signatures and disclaimers, and buildSmsText carries the blocks', () => {
    const body = 'Disk full\n-- \nJane\nOps';
    expect(strip(body).removed).toEqual([{ class: 'signature', lines: [2, 4], text: '-- \nJane\nOps' }]);
    const marked = stripNonMessage('Backup failed\nThis e-mail is confidential.', [{ kind: 'text', text: 'is confidential' }]);
    expect(marked.removed).toEqual([{ class: 'disclaimer', lines: [2, 2], text: 'This e-mail is confidential.' }]);
    expect(buildSmsText({ subject: '', text: body, html: undefined })).toMatchObject({ ok: true, text: 'Disk full', removed: [{ class: 'signature' }] });
  });

  it('never sends the quoted thread when the person wrote something, and never an empty SMS', () => {
    expect(kept('On Mon, 5 Jan 2026, Ops <ops@example.test> wrote:\n> Server down\n\nRestarted.')).toBe('Restarted.');
    const quoteOnly = 'On Mon, 5 Jan 2026, Ops wrote:\n> Server down';
    expect(strip(quoteOnly)).toEqual({ text: quoteOnly, fellBack: true });
    expect(buildSmsText({ subject: '', text: quoteOnly, html: undefined })).toMatchObject({ ok: true, warnings: ['stripping_left_nothing'], removed: [] });
  });
});
