/*
 * What a person would not have typed into an SMS: the quoted thread under a
 * reply, the signature, the "Sent from my iPhone" footer, a disclaimer. Each
 * rule finds the line where that starts; the text is cut at the earliest one.
 */

export type CutMarker = { kind: 'text'; text: string } | { kind: 'regex'; regex: RegExp };

/** "On … wrote:" and its translations: a reply's quote header (often wrapped over two lines). */
const QUOTE_HEADERS: RegExp[] = [
  /^On\b.*\bwrote:\s*$/i, // en
  /^(Den\s+)?.*\d.*\bskrev\b.*:\s*$/i, // da, no, sv
  /^Am\b.*\bschrieb\b.*:\s*$/i, // de
  /^Le\b.*\ba\s+écrit\s*:\s*$/i, // fr
  /^El\b.*\bescribió:\s*$/i, // es
  /^Op\b.*\bschreef\b.*:\s*$/i, // nl
];

const ORIGINAL_MESSAGE =
  /^-{2,}\s*(Original Message|Oprindelig meddelelse|Opprinnelig melding|Ursprungligt meddelande|Ursprüngliche Nachricht|Message d'origine|Mensaje original|Oorspronkelijk bericht|Forwarded message|Videresendt meddelelse|Weitergeleitete Nachricht|Message transféré)\s*-{2,}\s*$/i;

/** Outlook's header block: "From:" with "Sent:" within the next lines, in the languages we serve. */
const OUTLOOK_FROM = /^\*?(From|Fra|Von|De|Från|Van|Da)\s*:/i;
const OUTLOOK_SENT = /^\*?(Sent|Sendt|Gesendet|Envoyé|Skickat|Verzonden|Inviato|Date|Datum|Dato)\s*:/i;

const MOBILE_FOOTER =
  /^(Sent from my\b|Sent from Outlook for\b|Sent from Mail for\b|Sent from Yahoo Mail\b|Sent from Samsung\b|Get Outlook for\b|Sendt fra min\b|Sendt fra Outlook\b|Hent Outlook til\b|Skickat från min\b|Skickat från Outlook\b|Von meinem\b.*\bgesendet|Gesendet von meinem\b|Envoyé de mon\b|Envoyé depuis\b|Verzonden vanaf mijn\b)/i;

function isSignatureSeparator(line: string): boolean {
  return line === '-- ' || line.trim() === '--';
}

function matchesMarker(line: string, markers: readonly CutMarker[]): boolean {
  for (const marker of markers) {
    if (marker.kind === 'text' ? line.toLowerCase().includes(marker.text.toLowerCase()) : marker.regex.test(line)) return true;
  }
  return false;
}

/** The index of the first line where quoted/signature/footer/disclaimer text begins, or lines.length. */
/** Quote headers are short and end with a colon; testing only those keeps long lines linear. */
function isQuoteHeader(line: string): boolean {
  return line.length <= MAX_HEADER_LINE && line.endsWith(':') && QUOTE_HEADERS.some((re) => re.test(line));
}
const MAX_HEADER_LINE = 400;

function cutIndex(lines: string[], markers: readonly CutMarker[]): number {
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (isQuoteHeader(line)) return i;
    if (line.length <= MAX_HEADER_LINE && !line.endsWith(':') && /^(On|Am|Le|Den)\b/i.test(line) && isQuoteHeader(`${line} ${(lines[i + 1] ?? '').trim()}`)) return i;
    if (line.startsWith('-') && ORIGINAL_MESSAGE.test(line)) return i;
    if (OUTLOOK_FROM.test(line)) {
      for (let j = i + 1; j <= i + 3 && j < lines.length; j++) {
        if (OUTLOOK_SENT.test((lines[j] as string).trim())) {
          // Outlook draws a rule of underscores above the block.
          return i > 0 && /^_{5,}$/.test((lines[i - 1] as string).trim()) ? i - 1 : i;
        }
      }
    }
    if (isSignatureSeparator(lines[i] as string)) return i;
    if (MOBILE_FOOTER.test(line)) return i;
    if (markers.length > 0 && matchesMarker(line, markers)) return i;
  }
  return lines.length;
}

export interface Stripped {
  text: string;
  /** Stripping would have left nothing, so the text is the unstripped one. */
  fellBack: boolean;
}

export function stripNonMessage(text: string, markers: readonly CutMarker[] = []): Stripped {
  const lines = text.split('\n');
  const kept = lines.slice(0, cutIndex(lines, markers)).filter((line) => !line.trimStart().startsWith('>'));
  const result = kept.join('\n');
  if (result.trim() === '') return { text, fellBack: text.trim() !== '' };
  return { text: result, fellBack: false };
}
