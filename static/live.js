// The dashboard's live parts, refreshed when a job changes instead of on a fast timer.
//
// One EventSource per page on the server's event stream (GET /api/events, named by <body data-events>).
// Each element marked data-live (a partial that htmx re-fetches on its "heroagent-changed" event) is told when
// an event arrives; one marked data-live-job="<id>" only for that job's events, data-live-group="<name>" only
// for that group's. Refreshes are debounced: at most one every GAP_MS, however many events come. When the
// stream cannot be had (refused, too many open, the server away) the same event is sent every POLL_MS instead,
// as the pages polled before, and the stream is tried again later. The partials keep a slow poll of their own for what no job event tells (workers, Redis,
// a running job's progress). No inline script, no eval: it runs under the strict CSP.
(function () {
  "use strict";
  var GAP_MS = 250; // at most 4 refreshes a second
  var POLL_MS = 2000; // without the stream
  var RETRY_MS = 30000; // a stream the server refused (503, 401) is asked for again this much later
  var HOLD_MS = 2000; // after a button's answer replaced a live part (with its notice), no refresh for this long
  var body = document.body;
  var url = body.getAttribute("data-events");
  var jobs = {}; // job ids changed since the last refresh
  var groups = {}; // and their groups
  var all = false; // or everything (a reset: events may have been missed)
  var timer = null;
  var last = 0;
  var poller = null;
  var quietUntil = 0; // see HOLD_MS

  function refresh() {
    if (Date.now() < quietUntil) {
      timer = setTimeout(refresh, quietUntil - Date.now());
      return;
    }
    var changedJobs = jobs;
    var changedGroups = groups;
    var every = all;
    timer = null;
    last = Date.now();
    jobs = {};
    groups = {};
    all = false;
    var live = document.querySelectorAll("[data-live]");
    for (var i = 0; i < live.length; i++) {
      var job = live[i].getAttribute("data-live-job");
      var group = live[i].getAttribute("data-live-group");
      if (every || (job ? changedJobs[job] : group ? changedGroups["=" + group] : true)) {
        htmx.trigger(live[i], "heroagent-changed");
      }
    }
  }

  function changed(event) {
    if (event === null) {
      all = true;
    } else {
      jobs[String(event.job_id)] = true;
      groups["=" + event.group] = true; // prefixed: a group named like an Object member is a plain key
    }
    if (timer === null) {
      timer = setTimeout(refresh, Math.max(0, last + GAP_MS - Date.now(), quietUntil - Date.now()));
    }
  }

  function poll(on) {
    if (on && poller === null) {
      poller = setInterval(function () { changed(null); }, POLL_MS);
      body.setAttribute("data-live-mode", "polling");
    } else if (!on && poller !== null) {
      clearInterval(poller);
      poller = null;
    }
  }

  function connect() {
    var source = new EventSource(url);
    source.addEventListener("open", function () {
      poll(false);
      body.setAttribute("data-live-mode", "stream");
    });
    source.addEventListener("job", function (event) {
      body.setAttribute("data-live-event", event.lastEventId); // the newest event seen (for a look in devtools)
      try {
        changed(JSON.parse(event.data));
      } catch (e) {
        changed(null);
      }
    });
    source.addEventListener("reset", function () { changed(null); });
    source.addEventListener("error", function () {
      poll(true); // reconnecting by itself (CONNECTING), or given up (CLOSED: a refusal)
      if (source.readyState === EventSource.CLOSED) {
        setTimeout(connect, RETRY_MS);
      }
    });
  }

  if (typeof htmx === "undefined") {
    return; // the partials' own slow poll is all there is
  }
  // A button (pause a queue, drain a worker) answers with the live part and a notice: a refresh already on its
  // way is called off (it could land after the answer and put back what was before), and none follows for
  // HOLD_MS, so the notice is read.
  body.addEventListener("htmx:beforeRequest", function (event) {
    var config = event.detail.requestConfig;
    var target = event.detail.target;
    if (config && config.verb !== "get" && target && target.hasAttribute("data-live")) {
      htmx.trigger(target, "htmx:abort");
      quietUntil = Date.now() + HOLD_MS;
    }
  });
  if (url && typeof EventSource === "function") {
    connect();
  } else {
    poll(true);
  }
})();
