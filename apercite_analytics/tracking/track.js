/* apercite-analytics browser snippet: page views and custom events to the collector, with
 * navigator.sendBeacon (no build step, no dependency, no cookie).
 *
 *   <script src="https://collector.example.com/track.js" defer></script>
 *   <script>
 *     window.apercite = window.apercite || [];         // calls made before the snippet loads wait here
 *     apercite.push(["identify", "42"]);                // optional: your user id (pseudonymized by the collector)
 *     apercite.push(["track", "signup", {plan: "pro"}]);
 *   </script>
 *
 * Once loaded: apercite.track(name, properties, {durationMs}), apercite.identify(userId),
 * apercite.page() (sent on load; call it again on client-side navigation).
 * Events are sent in batches: every 5 s, at 20 events, and when the page is hidden or left.
 * The collector drops every property its event definition does not list (docs/tracking.md).
 */
(function () {
  "use strict";
  var script = document.currentScript;
  var base = (script && script.getAttribute("data-collector")) || (script ? new URL(script.src).origin : "");
  var endpoint = base + "/v1/events";
  var queue = [], userId = null, dropped = 0, timer = null;

  function send() {
    if (timer) { clearTimeout(timer); timer = null; }
    if (!queue.length) return;
    var body = JSON.stringify({version: 1, dropped: dropped, events: queue});
    queue = [];
    // text/plain: a "simple" request, so no CORS preflight; the collector reads it as JSON
    var blob = new Blob([body], {type: "text/plain"});
    var sent = false;
    try { sent = navigator.sendBeacon && navigator.sendBeacon(endpoint, blob); } catch (e) { sent = false; }
    if (!sent) {
      try {
        fetch(endpoint, {method: "POST", body: body, keepalive: true, mode: "no-cors"});
      } catch (e) { dropped += JSON.parse(body).events.length; return; }
    }
    dropped = 0;
  }

  function track(name, properties, options) {
    var event = {name: String(name), at: new Date().toISOString(), properties: properties || {}};
    if (userId !== null) event.user_id = userId;
    if (options && typeof options.durationMs === "number") event.duration_ms = options.durationMs;
    if (queue.length >= 1000) { dropped += 1; return; }
    queue.push(event);
    if (queue.length >= 20) send();
    else if (!timer) timer = setTimeout(send, 5000);
  }

  function page() {
    var referrer = "";
    try { referrer = document.referrer ? new URL(document.referrer).host : ""; } catch (e) { referrer = ""; }
    var properties = {path: location.pathname};
    if (referrer) properties.referrer_host = referrer;
    track("page_view", properties);
  }

  var api = {
    track: track,
    page: page,
    identify: function (id) { userId = id === null || id === undefined ? null : String(id); },
    flush: send
  };
  var waiting = Array.isArray(window.apercite) ? window.apercite : [];
  api.push = function (call) { api[call[0]].apply(null, call.slice(1)); };
  window.apercite = api;
  waiting.forEach(api.push);
  document.addEventListener("visibilitychange", function () { if (document.visibilityState === "hidden") send(); });
  window.addEventListener("pagehide", send);
  page();
})();
