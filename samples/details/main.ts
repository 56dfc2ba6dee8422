/**
 * Bookinfo `details`: a book's publication facts, as Istio's details image serves them
 * (samples/bookinfo/src/details/details.rb). `node main.js 9080`.
 *   GET /details/<id>  the fixed record for the Comedy of Errors (any numeric id), or, with
 *                      ENABLE_EXTERNAL_BOOK_SERVICE=true (the details-v2 image), the record fetched
 *                      from Google Books (HTTPS :443, or plain HTTP :80 with DO_NOT_ENCRYPT=true,
 *                      5 s timeout, Istio's tracing headers forwarded) — the egress tasks' traffic
 *   GET /health        {"status":"Details is healthy"}
 * A non-numeric id, or a failing external call, answers 400 {"error": "<why>"} as details.rb does.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { httpGet } from '../common/outbound.js';
import { BACKEND_FORWARDED, pickHeaders } from '../common/propagation.js';
import { runMain, send, startHttpSample } from '../common/server.js';

const JSON_TYPE = 'application/json';
const ISBN = '0486424618'; // a Comedy of Errors edition with Shakespeare as the single author

interface BookDetails {
  id: number;
  author: string;
  year: number | string;
  type: string;
  pages: number;
  publisher: string;
  language: string;
  'ISBN-10': string;
  'ISBN-13': string;
}

function localDetails(id: number): BookDetails {
  return {
    id,
    author: 'William Shakespeare',
    year: 1595,
    type: 'paperback',
    pages: 200,
    publisher: 'PublisherA',
    language: 'English',
    'ISBN-10': '1234567890',
    'ISBN-13': '123-1234567890',
  };
}

interface GoogleVolume {
  authors: string[];
  publishedDate: string;
  printType: string;
  pageCount: number;
  publisher: string;
  language: string;
  industryIdentifiers: { type: string; identifier: string }[];
}

async function externalDetails(id: number, headers: Record<string, string>): Promise<BookDetails> {
  const plain = process.env.DO_NOT_ENCRYPT === 'true';
  const url = `${plain ? 'http' : 'https'}://www.googleapis.com/books/v1/volumes?q=isbn:${ISBN}`;
  const res = await httpGet(url, headers, 5000);
  const book = (JSON.parse(res.body) as { items: { volumeInfo: GoogleVolume }[] }).items[0]!.volumeInfo;
  const isbn = (kind: string): string => book.industryIdentifiers.filter((i) => i.type === kind)[0]!.identifier;
  return {
    id,
    author: book.authors[0]!,
    year: book.publishedDate,
    type: book.printType === 'BOOK' ? 'paperback' : 'unknown',
    pages: book.pageCount,
    publisher: book.publisher,
    language: book.language === 'en' ? 'English' : 'unknown',
    'ISBN-10': isbn('ISBN_10'),
    'ISBN-13': isbn('ISBN_13'),
  };
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0]!;
  if (path === '/health' || path.startsWith('/health/')) {
    send(res, 200, JSON_TYPE, JSON.stringify({ status: 'Details is healthy' }));
    return;
  }
  if (path !== '/details' && !path.startsWith('/details/')) {
    send(res, 404, 'text/html; charset=ISO-8859-1', `<HTML><HEAD><TITLE>Not Found</TITLE></HEAD><BODY><H1>Not Found</H1>\n\`${path}' not found.\n</BODY></HTML>\n`);
    return;
  }
  const last = path.split('/').filter((p) => p !== '').pop() ?? '';
  try {
    if (!/^[+-]?\d+$/.test(last)) throw new Error('please provide numeric product id');
    const id = Number(last);
    const details = process.env.ENABLE_EXTERNAL_BOOK_SERVICE === 'true' ? await externalDetails(id, pickHeaders(req.headers, BACKEND_FORWARDED)) : localDetails(id);
    send(res, 200, JSON_TYPE, JSON.stringify(details));
  } catch (err) {
    send(res, 400, JSON_TYPE, JSON.stringify({ error: err instanceof Error ? err.message : String(err) }));
  }
}

runMain(() =>
  startHttpSample({
    name: 'details',
    defaultPort: 9080,
    handler: (req, res) => void handle(req, res),
  }),
);
