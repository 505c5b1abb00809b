/// <reference lib="webworker" />
/**
 * The playground's service worker: the page works offline once loaded. Same-origin GETs go to the
 * network first (so a new build is picked up) and fall back to the copy cached at the last visit;
 * the weight files are read from Cache Storage first (they are large and never change in place).
 */
const SHELL = 'ditto-shell-v1';
const WEIGHTS = 'ditto-weights-v1';
const sw = self as unknown as ServiceWorkerGlobalScope;

sw.addEventListener('install', (e) => {
  e.waitUntil(caches.open(SHELL).then((c) => c.addAll(['./', './index.html', './app.js', './style.css'])).then(() => sw.skipWaiting()));
});
sw.addEventListener('activate', (e) => e.waitUntil(sw.clients.claim()));

sw.addEventListener('fetch', (e) => {
  const req = e.request;
  const url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== sw.location.origin) return;
  if (url.pathname.includes('/weights/')) {
    e.respondWith(caches.open(WEIGHTS).then(async (c) => (await c.match(req)) ?? fetch(req)));
    return;
  }
  e.respondWith(
    fetch(req)
      .then(async (res) => {
        if (res.ok) await (await caches.open(SHELL)).put(req, res.clone());
        return res;
      })
      .catch(async () => (await caches.match(req, { ignoreSearch: true })) ?? Response.error()),
  );
});
