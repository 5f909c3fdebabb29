/*
 * The words mail clients put around a reply, one table per language. Data
 * only: src/message/strip.ts turns them into patterns once. Adding a language
 * or a client means adding a row here, not a regex elsewhere.
 *
 * - openers: how a quote header starts ("On …", "Am …", "Le …").
 * - verbs: how it ends ("wrote:", "schrieb:", "a écrit :"); a header needs an
 *   opener or an address, and a date or an address, before one of these.
 * - labels: the field names of a forwarded/quoted header block (Outlook's
 *   "From: / Sent: / To: / Subject:").
 * - separators: "-----Original Message-----" and its translations.
 * - footers: what a phone or webmail app appends ("Sent from my iPhone").
 * - legal: words of a company's confidentiality notice ("confidential",
 *   "intended recipient"); a long paragraph below the text with two of them is
 *   the notice, not the person's words.
 */

export interface LanguageVocabulary {
  openers: readonly string[];
  verbs: readonly string[];
  labels: { from: readonly string[]; date: readonly string[]; to: readonly string[]; subject: readonly string[]; cc: readonly string[] };
  separators: readonly string[];
  footers: readonly string[];
  legal?: readonly string[];
}

const none: readonly string[] = [];

export const REPLY_VOCABULARY: Record<string, LanguageVocabulary> = {
  en: {
    openers: ['On'],
    verbs: ['wrote', 'sent'],
    labels: { from: ['From'], date: ['Sent', 'Date'], to: ['To'], subject: ['Subject'], cc: ['Cc', 'Bcc', 'Reply-To'] },
    separators: ['Original Message', 'Reply Message', 'Forwarded message', 'Forwarded Message', 'Original'],
    footers: ['Sent from my', 'Sent from Outlook', 'Sent from Mail for', 'Sent from Yahoo Mail', 'Sent from Samsung', 'Sent from TypeApp', 'Sent from Acompli', 'Sent from BlueMail', 'Sent from Gmail', 'Sent from the all new AOL app', 'Sent via', 'Sent with', 'Get Outlook for', 'Sent from Mailbird', 'Sent using'],
    legal: ['confidential', 'privileged', 'intended recipient', 'intended solely', 'intended only', 'addressee', 'unauthorised', 'unauthorized', 'scanned for viruses'],
  },
  da: {
    openers: ['Den'],
    verbs: ['skrev'],
    labels: { from: ['Fra'], date: ['Sendt', 'Dato'], to: ['Til'], subject: ['Emne'], cc: ['Cc'] },
    separators: ['Oprindelig meddelelse', 'Oprindelig besked', 'Videresendt meddelelse', 'Videresendt besked'],
    footers: ['Sendt fra min', 'Sendt fra Outlook', 'Sendt fra Mail', 'Hent Outlook til', 'Sendt fra Yahoo'],
    legal: ['fortrolig', 'rette modtager', 'adressat'],
  },
  no: {
    openers: ['Den', 'På'],
    verbs: ['skrev'],
    labels: { from: ['Fra'], date: ['Sendt', 'Dato'], to: ['Til'], subject: ['Emne'], cc: ['Kopi'] },
    separators: ['Opprinnelig melding', 'Videresendt melding'],
    footers: ['Sendt fra min', 'Sendt fra Outlook', 'Hent Outlook for'],
    legal: ['konfidensiell', 'taushetsbelagt', 'rette mottaker', 'adressat'],
  },
  sv: {
    openers: ['Den'],
    verbs: ['skrev'],
    labels: { from: ['Från'], date: ['Skickat', 'Datum'], to: ['Till'], subject: ['Ämne'], cc: ['Kopia'] },
    separators: ['Ursprungligt meddelande', 'Vidarebefordrat meddelande'],
    footers: ['Skickat från min', 'Skickat från Outlook', 'Skickat från Mail', 'Hämta Outlook för'],
    legal: ['konfidentiell', 'sekretessbelagd', 'rätta mottagare', 'adressat'],
  },
  de: {
    openers: ['Am'],
    verbs: ['schrieb'],
    labels: { from: ['Von'], date: ['Gesendet', 'Datum'], to: ['An'], subject: ['Betreff'], cc: ['Cc', 'Kopie'] },
    separators: ['Ursprüngliche Nachricht', 'Antwort Nachricht', 'Weitergeleitete Nachricht', 'Original Nachricht'],
    footers: ['Von meinem', 'Gesendet von meinem', 'Gesendet von Outlook', 'Gesendet mit', 'Gesendet von Mail für', 'Outlook für'],
    legal: ['vertraulich', 'rechtlich geschützt', 'richtige Adressat', 'Empfänger', 'nicht gestattet'],
  },
  fr: {
    openers: ['Le'],
    verbs: ['a écrit'],
    labels: { from: ['De'], date: ['Envoyé', 'Envoyé le', 'Date', 'Message du'], to: ['À', 'A'], subject: ['Objet', 'Sujet'], cc: ['Cc', 'Copie à'] },
    separators: ["Message d'origine", 'Message transféré', 'Message original'],
    footers: ['Envoyé de mon', 'Envoyé depuis', 'Envoyé à partir de', 'Obtenir Outlook pour'],
    legal: ['confidentiel', 'destinataire', 'interdite'],
  },
  es: {
    openers: ['El'],
    verbs: ['escribió'],
    labels: { from: ['De'], date: ['Enviado', 'Fecha'], to: ['Para'], subject: ['Asunto'], cc: ['CC'] },
    separators: ['Mensaje original', 'Mensaje reenviado'],
    footers: ['Enviado desde mi', 'Enviado desde Outlook', 'Obtener Outlook para'],
    legal: ['confidencial', 'destinatario', 'prohibid'],
  },
  pt: {
    openers: ['Em'],
    verbs: ['escreveu'],
    labels: { from: ['De'], date: ['Enviada em', 'Enviado', 'Data'], to: ['Para'], subject: ['Assunto'], cc: ['Cc'] },
    separators: ['Mensagem original', 'Mensagem encaminhada'],
    footers: ['Enviado do meu', 'Enviado do Outlook', 'Enviado a partir do'],
    legal: ['confidencia', 'destinatário', 'proibid'],
  },
  it: {
    openers: ['Il'],
    verbs: ['ha scritto'],
    labels: { from: ['Da'], date: ['Inviato', 'Data'], to: ['A'], subject: ['Oggetto'], cc: ['Cc'] },
    separators: ['Messaggio originale', 'Messaggio inoltrato'],
    footers: ['Inviato da', 'Inviato dal mio'],
    legal: ['riservat', 'confidenzial', 'destinatari', 'vietat'],
  },
  nl: {
    openers: ['Op'],
    verbs: ['schreef', 'het volgende geschreven'],
    labels: { from: ['Van'], date: ['Verzonden', 'Datum'], to: ['Aan'], subject: ['Onderwerp'], cc: ['CC'] },
    separators: ['Oorspronkelijk bericht', 'Doorgestuurd bericht'],
    footers: ['Verzonden vanaf mijn', 'Verstuurd vanaf mijn', 'Verzonden vanuit Outlook', 'Outlook voor'],
    legal: ['vertrouwelijk', 'geadresseerde', 'bestemd voor'],
  },
  pl: {
    openers: ['W dniu', 'Dnia'],
    verbs: ['napisał', 'napisała', 'pisze'],
    labels: { from: ['Od'], date: ['Wysłano', 'Data'], to: ['Do'], subject: ['Temat'], cc: ['DW'] },
    separators: ['Oryginalna wiadomość', 'Wiadomość oryginalna'],
    footers: ['Wysłane z mojego', 'Wysłano z'],
    legal: ['poufn', 'adresat'],
  },
  fi: {
    openers: none,
    verbs: ['kirjoitti'],
    labels: { from: ['Lähettäjä'], date: ['Lähetetty', 'Päivämäärä'], to: ['Vastaanottaja'], subject: ['Aihe'], cc: none },
    separators: ['Alkuperäinen viesti'],
    footers: ['Lähetetty iPhonesta', 'Lähetetty Androidista'],
    legal: ['luottamuksellinen', 'vastaanottaja'],
  },
  ru: {
    openers: none,
    verbs: ['написал', 'написала', 'написал(а)'],
    labels: { from: ['От'], date: ['Отправлено', 'Дата'], to: ['Кому'], subject: ['Тема'], cc: ['Копия'] },
    separators: ['Исходное сообщение', 'Пересылаемое сообщение'],
    footers: ['Отправлено с iPhone', 'Отправлено из'],
  },
  uk: {
    openers: none,
    verbs: ['пише', 'написав', 'написала'],
    labels: { from: ['Від'], date: ['Надіслано', 'Дата'], to: ['Кому'], subject: ['Тема'], cc: ['Копія'] },
    separators: ['Початкове повідомлення', 'Переслане повідомлення'],
    footers: ['Надіслано з iPhone'],
  },
  hu: {
    openers: none,
    verbs: ['írta'],
    labels: { from: ['Feladó'], date: ['Elküldve', 'Dátum'], to: ['Címzett'], subject: ['Tárgy'], cc: ['Másolatot kap'] },
    separators: ['Eredeti üzenet', 'Továbbított üzenet'],
    footers: ['iPhone-ról küldve', 'Az iPhone-omról küldve'],
  },
  vi: { openers: ['Vào'], verbs: ['đã viết'], labels: { from: none, date: none, to: none, subject: none, cc: none }, separators: none, footers: none },
  ja: { openers: none, verbs: ['のメッセージ', 'は書きました'], labels: { from: ['差出人'], date: ['送信日時'], to: ['宛先'], subject: ['件名'], cc: none }, separators: none, footers: ['iPhoneから送信'] },
  zh: { openers: ['在'], verbs: ['写道'], labels: { from: ['发件人'], date: ['发送时间'], to: ['收件人'], subject: ['主题'], cc: none }, separators: none, footers: ['发自我的iPhone'] },
  ko: { openers: none, verbs: ['작성'], labels: { from: none, date: none, to: none, subject: none, cc: none }, separators: none, footers: none },
};

/**
 * Footers of mailing lists and notification services: the paragraph that
 * holds one of these is not the person's text.
 */
export const LIST_FOOTERS: readonly string[] = [
  'You received this message because you are subscribed to',
  'To unsubscribe from this group',
  'Reply to this email directly',
  'You are receiving this because',
  'To unsubscribe, send',
  'Unsubscribe:',
  '/mailman/listinfo/',
  '_______________________________________________ Mailing list',
];
