/**
 * The HTML productpage renders: Istio's current `productpage.html` and `index.html` templates
 * (Tailwind markup), reproduced with the same texts, classes and markers that users and Istio's own
 * doc tests look for: `<title>Simple Bookstore App</title>`, `Book Details`, `Book Reviews`,
 * `glyphicon glyphicon-star` on each full star inside `text-<color>-500` (black for reviews v2,
 * red for v3), `Reviews served by:` + the reviews pod name, and the error texts
 * `Error fetching product details` / `Error fetching product reviews` followed by the service's
 * `error` message, or the per-review `Ratings service is currently unavailable`.
 */

export interface Product {
  id: number;
  title: string;
  descriptionHtml: string;
}

/** What the details service returned (or productpage's error object). */
export interface DetailsBody {
  error?: string;
  publisher?: unknown;
  pages?: unknown;
  type?: unknown;
  language?: unknown;
  'ISBN-10'?: unknown;
}

export interface Review {
  reviewer?: unknown;
  text?: unknown;
  rating?: { stars?: unknown; color?: unknown; error?: unknown };
}

/** What the reviews service returned (or productpage's error object). */
export interface ReviewsBody {
  error?: string;
  podname?: unknown;
  clustername?: unknown;
  reviews?: Review[];
}

export interface PageModel {
  product: Product | null;
  detailsStatus: number;
  details: DetailsBody;
  reviewsStatus: number;
  reviews: ReviewsBody;
  /** The signed-in user, '' when none. */
  user: string;
}

/** Jinja's autoescape: & < > " ' (Markup.escape). */
export function escapeHtml(v: unknown): string {
  const s = v === undefined || v === null ? (v === null ? 'None' : '') : String(v);
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&#34;', "'": '&#39;' })[c]!);
}

/** Python truthiness for the values a template tests. */
function truthy(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

const FULL_STAR = `              <svg id="glyphicon glyphicon-star" class="h-5 w-5 flex-none" viewBox="0 0 20 20" fill="currentColor" aria-hidden="true">
                <path fill-rule="evenodd" d="M10.868 2.884c-.321-.772-1.415-.772-1.736 0l-1.83 4.401-4.753.381c-.833.067-1.171 1.107-.536 1.651l3.62 3.102-1.106 4.637c-.194.813.691 1.456 1.405 1.02L10 15.591l4.069 2.485c.713.436 1.598-.207 1.404-1.02l-1.106-4.637 3.62-3.102c.635-.544.297-1.584-.536-1.65l-4.752-.382-1.831-4.401z" clip-rule="evenodd" />
              </svg>
`;
const EMPTY_STAR = `              <svg xmlns="http://www.w3.org/2000/svg" fill="none" viewBox="0 0 24 24" stroke-width="1.5" stroke="currentColor" class="h-5 w-5 flex-none">
                <path stroke-linecap="round" stroke-linejoin="round" d="M11.48 3.499a.562.562 0 0 1 1.04 0l2.125 5.111a.563.563 0 0 0 .475.345l5.518.442c.499.04.701.663.321.988l-4.204 3.602a.563.563 0 0 0-.182.557l1.285 5.385a.562.562 0 0 1-.84.61l-4.725-2.885a.562.562 0 0 0-.586 0L6.982 20.54a.562.562 0 0 1-.84-.61l1.285-5.386a.562.562 0 0 0-.182-.557l-4.204-3.602a.562.562 0 0 1 .321-.988l5.518-.442a.563.563 0 0 0 .475-.345L11.48 3.5Z" />
              </svg>
`;

function head(): string {
  return `<meta charset="utf-8">
<meta http-equiv="X-UA-Compatible" content="IE=edge">
<meta name="viewport" content="width=device-width, initial-scale=1.0">

<title>Simple Bookstore App</title>
<script src="static/tailwind/tailwind.css"></script>
<script type="text/javascript">
  window.addEventListener("DOMContentLoaded", (event) => {
    const dialog = document.querySelector("dialog");
    const showButton = document.querySelector("#sign-in-button");
    const closeButton = document.querySelector("#close-dialog");
    if (showButton) { showButton.addEventListener("click", () => { dialog.showModal(); }); }
    if (closeButton) { closeButton.addEventListener("click", () => { dialog.close(); }); }
  })
</script>
`;
}

function nav(user: string): string {
  const right = user
    ? `        <a href="#" class="group block flex-shrink-0">
          <div class="flex items-center">
            <div>
              <img class="inline-block h-9 w-9 rounded-full bg-blue-50" src="/static/img/izzy.png" alt="">
            </div>
            <div class="ml-4">
              <p class="text-base font-medium text-gray-50">${escapeHtml(user)}</p>
              <a href="logout" class="text-xs font-medium text-gray-400 hover:text-gray-300">Sign out</a>
            </div>
          </div>
        </a>
`
    : `          <button type="button" id="sign-in-button" class="rounded-md bg-blue-600 px-3.5 py-2.5 text-sm font-semibold text-white shadow-sm hover:bg-blue-500">
            Sign in
          </button>
`;
  return `<nav class="bg-gray-800">
  <div class="container mx-auto px-4 sm:px-6 lg:px-8">
    <div class="relative flex h-16 items-center justify-between">
      <a href="#" class="text-white px-3 py-2 text-lg font-medium" aria-current="page">BookInfo Sample</a>
      <div class="absolute inset-y-0 right-0 flex items-center pr-2 sm:static sm:inset-auto sm:ml-6 sm:pr-0">
${right}      </div>
    </div>
  </div>
</nav>

<!-- Sign in dialog -->
<dialog id="dialog" class="w-full sm:w-2/3 lg:w-1/3 border rounded-md shadow-xl">
  <div class="flex min-h-full flex-col justify-center px-6 py-12 lg:px-8">
    <div class="absolute right-0 top-0 hidden pr-4 pt-4 sm:block">
      <button id="close-dialog" type="button" class="rounded-md bg-white text-gray-400 hover:text-gray-500"><span class="sr-only">Close</span></button>
    </div>
    <div class="sm:mx-auto sm:w-full sm:max-w-sm">
        <h2 class="mt-5 text-center text-2xl font-bold leading-9 tracking-tight text-gray-900">Sign in to BookInfo</h2>
    </div>
    <div class="mt-10 sm:mx-auto sm:w-full sm:max-w-sm">
      <form class="space-y-6" method="post" action='login' name="login_form">
        <div>
          <label for="email" class="block text-sm font-medium leading-6 text-gray-900">Username</label>
          <div class="mt-2"><input id="username" name="username" required class="block w-full px-3 rounded-md border-0 py-1.5"></div>
        </div>
        <div>
          <label for="password" class="block text-sm font-medium leading-6 text-gray-900">Password</label>
          <div class="mt-2"><input id="password" name="passwd" type="password" required class="block w-full px-3 rounded-md border-0 py-1.5"></div>
        </div>
        <div>
          <button type="submit" class="flex w-full justify-center rounded-md bg-blue-600 px-3 py-1.5 text-sm font-semibold leading-6 text-white">Sign in</button>
        </div>
      </form>
      <p class="mt-10 text-center text-sm text-gray-500">
        Not using Istio yet?
        <a href="https://istio.io" target="_blank" class="font-semibold leading-6 text-blue-600 hover:text-blue-500">Start here</a>
      </p>
    </div>
  </div>
</dialog>
`;
}

function description(product: Product | null): string {
  return `
<!-- Book description section -->
<div class="container mt-8 mx-auto px-4 sm:px-6 lg:px-8">
  <h1 class="text-5xl font-bold tracking-tight text-blue-900">${escapeHtml(product?.title)}</h1>
  <div class="mt-6 max-w-4xl">
    <p class="mt-6 text-xl leading-8 text-gray-600">${product?.descriptionHtml ?? ''}</p>
    <div class="mt-6">
      <a href="https://istio.io" target="_blank" class="text-sm font-semibold leading-6 text-blue-600 hover:text-blue-700">Learn more about Istio <span aria-hidden="true">→</span></a>
    </div>
  </div>
</div>
`;
}

function detailsSection(status: number, d: DetailsBody): string {
  let inner: string;
  if (status === 200) {
    const th = (t: string): string => `                    <th scope="col" class="whitespace-nowrap px-2 py-3.5 text-left text-sm font-semibold text-gray-900">${t}</th>\n`;
    const td = (v: unknown): string => `                    <td class="whitespace-nowrap px-2 py-2 text-sm text-gray-900">${escapeHtml(v)}</td>\n`;
    inner = `          <h4 class="text-3xl font-semibold">Book Details</h4>
          <div class="-mx-4 -my-2 overflow-x-auto sm:-mx-6 lg:-mx-8">
            <div class="inline-block min-w-full py-2 align-middle sm:px-6 lg:px-8">
              <table class="min-w-full divide-y divide-gray-300">
                <thead>
                  <tr>
${th('ISBN-10')}${th('Publisher')}${th('Pages')}${th('Type')}${th('Language')}                  </tr>
                </thead>
                <tbody class="divide-y divide-gray-200 bg-white">
                  <tr>
${td(d['ISBN-10'])}${td(d.publisher)}${td(d.pages)}${td(d.type)}${td(d.language)}                  </tr>
                </tbody>
              </table>
            </div>
          </div>
`;
  } else {
    inner = `          <p class="text-2xl text-red-500">Error fetching product details</p>\n`;
    if (truthy(d)) inner += `          <p class="text-lg text-gray-600">${escapeHtml(d.error)}</p>\n`;
  }
  return `
<!-- Book details table -->
<div class="container mt-8 mx-auto px-4 sm:px-6 lg:px-8">
  <div class="mt-4 py-10">
      <div class="max-w-2xl">
        <div class="flow-root">
${inner}        </div>
      </div>
  </div>
</div>
`;
}

function ratingBlock(review: Review): string {
  const rating = review.rating;
  if (!truthy(rating) || rating === undefined) return '';
  if (truthy(rating.stars)) {
    const stars = Math.max(0, Math.min(5, Math.trunc(Number(rating.stars)) || 0));
    return `            <div class="flex gap-x-1 text-${escapeHtml(rating.color)}-500">
${FULL_STAR.repeat(stars)}${EMPTY_STAR.repeat(5 - stars)}            </div>
`;
  }
  if (truthy(rating.error)) return `            <p class="text-red-500">${escapeHtml(rating.error)}</p>\n`;
  return '';
}

function reviewsSection(status: number, r: ReviewsBody): string {
  let inner: string;
  if (status === 200) {
    const cluster = r.clustername !== 'null' ? `                  on cluster <div>${escapeHtml(r.clustername)}</div>\n` : '';
    const sections = (Array.isArray(r.reviews) ? r.reviews : [])
      .map(
        (review) => `        <section class="px-6 py-12 sm:py-8 lg:px-8">
          <div class="mx-auto max-w-2xl">
${ratingBlock(review)}            <blockquote class="mt-10 text-xl font-semibold leading-8 tracking-tight text-gray-900 sm:text-2xl sm:leading-9">
              <p>"${escapeHtml(review.text)}"</p>
            </blockquote>
            <div class="mt-4 flex items-center gap-x-6">
              <img class="h-16 w-16 rounded-full bg-gray-50" src="/static/img/izzy.png" alt="Izzy">
              <div class="text-sm leading-6">
                <div class="font-semibold text-gray-900">${escapeHtml(review.reviewer)}</div>
                <div class="mt-0.5 text-gray-600 font-mono">Reviews served by: 
                  ${escapeHtml(r.podname)}
${cluster}                </div>
              </div>
            </div>
        </section>
`,
      )
      .join('');
    inner = `      <h4 class="text-3xl font-semibold">Book Reviews</h4>
      <div class="flex flex-col md:flex-row">
${sections}      </div>
`;
  } else {
    inner = `      <p class="text-2xl text-red-500">Error fetching product reviews</p>\n`;
    if (truthy(r)) inner += `      <p class="text-lg text-gray-600">${escapeHtml(r.error)}</p>\n`;
  }
  return `
<!-- Book reviews section -->
<div class="bg-blue-600/5 py-12 mx-auto" >
  <div class="container mx-auto px-4 sm:px-6 lg:px-8">
    <div class="max-w-2xl">
${inner}    </div>
  </div>
</div>
`;
}

/** The /productpage HTML. */
export function renderProductPage(m: PageModel): string {
  return head() + '\n' + nav(m.user) + description(m.product) + detailsSection(m.detailsStatus, m.details) + reviewsSection(m.reviewsStatus, m.reviews);
}

/** json2html's rendering of a JSON value as nested tables (what the index page shows of the service graph). */
export function json2html(v: unknown, tableAttributes: string): string {
  if (Array.isArray(v)) {
    if (v.length === 0) return '';
    const objects = v.every((x) => x !== null && typeof x === 'object' && !Array.isArray(x));
    if (objects) {
      const keys = Object.keys(v[0] as object);
      const same = v.every((x) => Object.keys(x as object).join('\0') === keys.join('\0'));
      if (same) {
        const rows = v.map((x) => `<tr>${keys.map((k) => `<td>${json2html((x as Record<string, unknown>)[k], tableAttributes)}</td>`).join('')}</tr>`).join('');
        return `<table ${tableAttributes}><thead><tr>${keys.map((k) => `<th>${escapeHtml(k)}</th>`).join('')}</tr></thead><tbody>${rows}</tbody></table>`;
      }
    }
    return `<ul>${v.map((x) => `<li>${json2html(x, tableAttributes)}</li>`).join('')}</ul>`;
  }
  if (v !== null && typeof v === 'object') {
    const rows = Object.entries(v).map(([k, x]) => `<tr><th>${escapeHtml(k)}</th><td>${json2html(x, tableAttributes)}</td></tr>`);
    return `<table ${tableAttributes}>${rows.join('')}</table>`;
  }
  return escapeHtml(v);
}

/** The / (index.html) page: the service graph and the two sample links. */
export function renderIndexPage(serviceTable: string): string {
  return `<meta charset="utf-8">
<meta http-equiv="X-UA-Compatible" content="IE=edge">
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
    table { color: #333; background: white; border: 1px solid grey; font-size: 12pt; border-collapse: collapse; width: 100%; }
    table thead th, table tfoot th { color: #fff; background: #466BB0; }
    table th, table td { padding: .5em; border: 1px solid lightgrey; }
</style>
<script src="static/tailwind/tailwind.css"></script>
<div class="mx-auto px-4 sm:px-6 lg:px-8">
    <div class="flex flex-col space-y-5 py-32 mx-auto max-w-7xl">
        <h3 class="text-2xl">Hello! This is a simple bookstore application consisting of three services as shown below
        </h3>
        ${serviceTable}
        <p>
            Click on one of the links below to auto generate a request to the backend as a real user or a tester
        </p>
        <ul>
            <li>
                <a href="/productpage?u=normal" class="text-blue-500 hover:text-blue-600">Normal user</a>
            </li>
            <li>
                <a href="/productpage?u=test" class="text-blue-500 hover:text-blue-600">Test user</a>
            </li>
        </ul>
    </div>
</div>
`;
}
