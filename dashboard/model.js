// model: what the page knows of every gateway it hears from — status, devices with their last
// values and last hour of trends, active alerts, latest daily reports, command replies — built
// only from the payloads of docs/mqtt.md. No DOM here.
"use strict";

var CaretakerModel = (function () {
  var SEVERITY_RANK = { critical: 0, major: 1, minor: 2, info: 3 };
  // Points drawn as a last-hour trend (level against rainfall, flow, elevator runs, pit level).
  var TREND_POINTS = ["level", "rainfall", "intensity", "flow", "runs", "pit_level"];
  var TREND_WINDOW_MS = 3600 * 1000;
  var TREND_BUCKET_MS = 30 * 1000; // 120 points an hour per trend, whatever the poll rate
  var EVENTS_KEPT = 200; // alert events kept to re-apply over an older retained list

  // The members each kind needs before it may change anything (docs/mqtt.md has the schemas).
  var NEEDS = {
    status: { state: "string" }, readings: { ts: "number", values: "object" }, batch: { devices: "object" },
    state: { state: "string" },
    report: { ts: "number", day: "string" }, active: { alerts: "object", last_alert_seq: "number" },
    alert: { id: "string", seq: "number", event: "string", severity: "string" }, reply: { ok: "boolean" }
  };

  function check(kind, p) {
    var needs = NEEDS[kind];
    for (var k in needs)
      if (typeof p[k] !== needs[k] || p[k] === null) throw new Error("member " + k + " is not a " + needs[k]);
    if (kind === "batch") {
      if (!Array.isArray(p.devices)) throw new Error("member devices is not an array");
      p.devices.forEach(function (grp) {
        if (!grp || typeof grp.device !== "string" || !Array.isArray(grp.points) || !Array.isArray(grp.readings))
          throw new Error("a device group without device, points and readings");
        grp.readings.forEach(function (r) {
          if (!r || typeof r.ts !== "number" || !Array.isArray(r.values)) throw new Error("a reading without ts and values");
        });
      });
    }
    if (kind === "active") {
      if (!Array.isArray(p.alerts)) throw new Error("member alerts is not an array");
      p.alerts.forEach(function (a) { check("alert", a && typeof a === "object" ? Object.assign({ seq: 0, event: "" }, a) : {}); });
    }
  }

  function create() {
    return { gateways: {}, replies: [], listeners: [] };
  }

  function gateway(m, t) {
    var g = m.gateways[t.prefix];
    if (!g) {
      g = m.gateways[t.prefix] = {
        prefix: t.prefix, site: t.site, id: t.gateway, state: "unknown", statusTs: null, version: "",
        devices: {}, deviceCount: 0, alerts: {}, alertSeq: 0, events: [], reports: {}, dirty: true
      };
    }
    return g;
  }

  function device(g, id) {
    var d = g.devices[id];
    if (!d) {
      d = g.devices[id] = { id: id, state: "unknown", lastOkTs: null, errors: 0, ts: null, values: {},
                            bad: [], trends: {}, location: "", bus: "" };
      g.deviceCount++;
    }
    return d;
  }

  function addTrend(d, point, ts, v) {
    var tr = d.trends[point] || (d.trends[point] = []);
    var bucket = Math.floor(ts / TREND_BUCKET_MS);
    var last = tr[tr.length - 1];
    if (last && last[2] === bucket) {
      last[0] = ts;
      last[1] = v;
    } else if (!last || bucket > last[2]) {
      tr.push([ts, v, bucket]);
    } else {
      return; // an older reading replayed after a reconnect: the trend already passed it
    }
    while (tr.length && tr[0][0] < ts - TREND_WINDOW_MS) tr.shift();
  }

  function onReading(g, t, p) {
    var d = device(g, t.device);
    if (d.ts !== null && p.ts < d.ts) return; // a replayed backlog row is older than what is shown
    d.ts = p.ts;
    var vals = p.values || {}, bad = (p.invalid || []).concat(p.offline || []);
    if (p.full === false) {
      // Report by exception (docs/mqtt.md): only the points that changed; the others hold.
      d.bad = d.bad.filter(function (n) { return !(n in vals) && bad.indexOf(n) < 0; }).concat(bad);
      for (var n in vals) d.values[n] = vals[n];
      for (var j = 0; j < bad.length; j++) delete d.values[bad[j]];
    } else {
      d.values = vals;
      d.bad = bad;
    }
    for (var i = 0; i < TREND_POINTS.length; i++) {
      var k = TREND_POINTS[i];
      if (typeof vals[k] === "number") addTrend(d, k, p.ts, vals[k]);
    }
  }

  // A v2 message: each reading of each device group, as the v1 reading it stands for (values by
  // point name, a null value being a point named in invalid or offline).
  function onBatch(g, p) {
    p.devices.forEach(function (grp) {
      grp.readings.forEach(function (r) {
        var values = {};
        for (var i = 0; i < grp.points.length; i++) if (r.values[i] !== null) values[grp.points[i]] = r.values[i];
        onReading(g, { device: grp.device },
                  { ts: r.ts, values: values, invalid: r.invalid, offline: r.offline, full: r.full });
      });
    });
  }

  function onState(g, t, p) {
    var d = device(g, t.device);
    d.state = p.state;
    d.lastOkTs = p.last_ok_ts;
    d.errors = p.errors;
    if (typeof p.bus === "string") d.bus = p.bus;
    if (typeof p.location === "string" && p.location) d.location = p.location;
  }

  function applyEvent(g, e) {
    if (e.event === "occurred") return;
    if (e.event === "cleared") delete g.alerts[e.id];
    else g.alerts[e.id] = e;
    if (e.location && e.device) device(g, e.device).location = e.location;
  }

  // Returns the alert when it is new to the page (for the sound), else null.
  function onAlertEvent(g, p) {
    if (p.seq <= g.alertSeq) return null; // the retained list or an earlier copy already holds it
    g.alertSeq = p.seq;
    g.events.push(p);
    if (g.events.length > EVENTS_KEPT) g.events.shift();
    var fresh = !g.alerts[p.id] && p.event !== "cleared" && p.event !== "occurred";
    applyEvent(g, p);
    return fresh ? p : null;
  }

  // The retained list is the present; events newer than it that the page already holds go on top.
  function onActive(g, p) {
    var before = g.alerts;
    g.alerts = {};
    var fresh = [];
    for (var i = 0; i < p.alerts.length; i++) {
      var a = p.alerts[i], was = before[a.id];
      // The list does not repeat an ack's note; only the acknowledged event carries it.
      if (was && was.note && a.acked && a.note === undefined) a.note = was.note;
      g.alerts[a.id] = a;
      if (a.location && a.device) device(g, a.device).location = a.location;
      if (!before[a.id]) fresh.push(a);
    }
    for (var j = 0; j < g.events.length; j++)
      if (g.events[j].seq > p.last_alert_seq) applyEvent(g, g.events[j]);
    if (p.last_alert_seq > g.alertSeq) g.alertSeq = p.last_alert_seq;
    return fresh;
  }

  function onReport(g, t, p) {
    var old = g.reports[t.device];
    if (old && old.ts > p.ts) return;
    g.reports[t.device] = p;
    if (p.location) device(g, t.device).location = p.location;
  }

  // Applies one message; returns the alerts it made known for the first time.
  function apply(m, t, p) {
    check(t.kind, p); // throws before anything changed
    var g = gateway(m, t);
    g.dirty = true;
    switch (t.kind) {
      case "status":
        g.state = p.state;
        g.statusTs = p.ts || Date.now(); // the Last Will has no ts: it is news now
        if (p.version) g.version = p.version;
        return [];
      case "readings": onReading(g, t, p); return [];
      case "batch": onBatch(g, p); return [];
      case "state": onState(g, t, p); return [];
      case "report": onReport(g, t, p); return [];
      case "active": return onActive(g, p);
      case "alert": var a = onAlertEvent(g, p); return a ? [a] : [];
      case "reply":
        m.replies.unshift({ site: t.site, gateway: t.gateway, reply: p, at: Date.now() });
        if (m.replies.length > 50) m.replies.pop();
        return [];
    }
    return [];
  }

  // The alert's next deadline: response by, then the next escalation; none once acknowledged.
  function deadline(a) {
    if (a.acked) return null;
    if (a.next_escalation_ts !== null && a.next_escalation_ts !== undefined) return a.next_escalation_ts;
    return a.respond_by_ts === undefined ? null : a.respond_by_ts;
  }

  function stage(a) {
    if (a.acked) return "acknowledged";
    if (a.escalation > 0) return "escalated";
    return "raised";
  }

  // Every active alert of every gateway, critical first, then the nearest deadline, then oldest.
  function activeAlerts(m) {
    var out = [];
    for (var k in m.gateways) {
      var g = m.gateways[k];
      for (var id in g.alerts) out.push({ gw: g, a: g.alerts[id] });
    }
    out.sort(function (x, y) {
      var s = SEVERITY_RANK[x.a.severity] - SEVERITY_RANK[y.a.severity];
      if (s) return s;
      var dx = deadline(x.a), dy = deadline(y.a);
      if (dx !== dy) return dx === null ? 1 : dy === null ? -1 : dx - dy;
      return x.a.raised_ts - y.a.raised_ts;
    });
    return out;
  }

  function sortedGateways(m) {
    return Object.keys(m.gateways).sort().map(function (k) { return m.gateways[k]; });
  }

  return { create: create, apply: apply, deadline: deadline, stage: stage, activeAlerts: activeAlerts,
           sortedGateways: sortedGateways, TREND_POINTS: TREND_POINTS, TREND_WINDOW_MS: TREND_WINDOW_MS };
})();
