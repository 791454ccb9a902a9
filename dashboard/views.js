// views: the HTML of the three views (dispatch, sites, supervision) from the model; pure
// functions of the model, the language and the time, so a render is a string built and set once.
"use strict";

var CaretakerViews = (function () {
  var M = CaretakerModel;

  function esc(s) {
    return String(s === null || s === undefined ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function pad(n) { return n < 10 ? "0" + n : "" + n; }

  function clock(ts) {
    if (ts === null || ts === undefined) return "—";
    var d = new Date(ts);
    return pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }

  function dateTime(ts) {
    if (ts === null || ts === undefined) return "—";
    var d = new Date(ts);
    return (d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + clock(ts);
  }

  function duration(ms) {
    var s = Math.floor(Math.abs(ms) / 1000), h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60;
    return (h ? h + ":" + pad(m) : m) + ":" + pad(s % 60);
  }

  function siteName(site) {
    var n = CaretakerSiteNames[site];
    return n ? n + " (" + site + ")" : site;
  }

  function number(v) {
    if (typeof v !== "number") return String(v);
    return Math.abs(v) >= 100 ? String(Math.round(v * 10) / 10) : String(+v.toPrecision(3));
  }

  function withUnit(name, v) {
    var u = CaretakerUnits[name];
    return number(v) + (u ? " " + u : "");
  }

  // --- dispatch -----------------------------------------------------------------------------

  function deadlineText(d, now, T) {
    return now > d ? T.overdue + " " + duration(now - d) : duration(d - now);
  }

  function countdown(a, now, T) {
    var d = M.deadline(a);
    if (d === null) return '<td class="deadline">—</td>';
    return '<td class="deadline' + (now > d ? " overdue" : "") + '" data-deadline="' + d + '">' +
           deadlineText(d, now, T) + "</td>";
  }

  // Moves the countdowns on in place: redrawing the table every second would replace a button
  // between the press and the release of a click, and the click would be lost.
  function tickDeadlines(root, now, lang) {
    var T = CaretakerText[lang], cells = root.querySelectorAll("td.deadline[data-deadline]");
    for (var i = 0; i < cells.length; i++) {
      var d = +cells[i].getAttribute("data-deadline"), text = deadlineText(d, now, T);
      if (cells[i].textContent !== text) cells[i].textContent = text;
      if (now > d) cells[i].classList.add("overdue");
    }
  }

  function stageCell(a, pending, T) {
    var st = M.stage(a), text = T[st];
    if (st === "escalated") text += " ×" + a.escalation;
    var extra = "";
    if (a.acked) extra = '<div class="who">' + esc(a.acked_by) + " " + clock(a.acked_ts) +
                         (a.note ? " · " + esc(a.note) : "") + "</div>";
    else if (pending) extra = '<div class="who">' + T.ackSent + "</div>";
    if (a.flapping) text += " · " + T.flapping;
    return '<td class="stage stage-' + st + '">' + text + extra + "</td>";
  }

  function alertRow(gw, a, lang, now, pending, T) {
    var msg = a.message ? (a.message[lang] || a.message.zh) : a.rule;
    var action = a.acked ? "" :
      '<button class="ack" data-prefix="' + esc(gw.prefix) + '" data-id="' + esc(a.id) + '">' + T.ack + "</button>";
    return '<tr class="alert sev-' + esc(a.severity) + '" data-alert-id="' + esc(a.id) + '">' +
      '<td><span class="sev">' + T[a.severity] + "</span></td>" +
      "<td>" + esc(siteName(gw.site)) + '<div class="sub">' + esc(gw.id) + "</div></td>" +
      "<td>" + esc(a.location) + "</td><td>" + esc(a.device) + "</td>" +
      '<td class="msg">' + esc(msg) + '<div class="sub">' + dateTime(a.raised_ts) + "</div></td>" +
      "<td>" + esc(a.contractor || T.none) + "</td>" + stageCell(a, pending, T) + countdown(a, now, T) +
      "<td>" + action + "</td></tr>";
  }

  function replyLine(r, T) {
    var p = r.reply;
    return '<li class="' + (p.ok ? "ok" : "refused") + '">' + clock(p.ts) + " " + esc(r.gateway) + " " +
           esc(p.cmd) + ": " + esc(p.ok ? p.result : p.error) + "</li>";
  }

  function dispatch(m, lang, now, pendingAcks) {
    var T = CaretakerText[lang], rows = M.activeAlerts(m), html = [];
    var gws = M.sortedGateways(m), up = gws.filter(function (g) { return g.state === "online"; }).length;
    html.push('<p class="summary">' + up + "/" + gws.length + " " + T.gatewaysOnline + " · " + rows.length +
              " " + T.activeAlerts + "</p>");
    if (!rows.length) html.push('<p class="empty">' + T.noAlerts + "</p>");
    else {
      html.push('<table class="alerts"><thead><tr><th>' + [T.severity, T.community, T.location, T.device, T.alert,
                T.contractor, T.stage, T.deadline, T.action].join("</th><th>") + "</th></tr></thead><tbody>");
      for (var i = 0; i < rows.length; i++)
        html.push(alertRow(rows[i].gw, rows[i].a, lang, now, pendingAcks[rows[i].a.id], T));
      html.push("</tbody></table>");
    }
    if (m.replies.length) {
      html.push('<h3>' + T.replies + '</h3><ul class="replies">');
      for (var j = 0; j < m.replies.length && j < 8; j++) html.push(replyLine(m.replies[j], T));
      html.push("</ul>");
    }
    return html.join("");
  }

  // --- sites --------------------------------------------------------------------------------

  // A last-hour trend as a small inline SVG polyline; counters show their increase instead.
  function spark(name, tr) {
    if (!tr || !tr.length) return "";
    // The right edge is the newest reading, so a gateway whose clock is off still draws its hour.
    var w = 120, h = 26, lo = Infinity, hi = -Infinity, t0 = tr[tr.length - 1][0] - M.TREND_WINDOW_MS, pts = [];
    for (var i = 0; i < tr.length; i++) { lo = Math.min(lo, tr[i][1]); hi = Math.max(hi, tr[i][1]); }
    var span = hi - lo || 1;
    for (var j = 0; j < tr.length; j++) {
      var x = Math.max(0, (tr[j][0] - t0) / M.TREND_WINDOW_MS * w), y = h - 2 - (tr[j][1] - lo) / span * (h - 4);
      pts.push(x.toFixed(1) + "," + y.toFixed(1));
    }
    if (pts.length === 1) pts.unshift("0," + pts[0].split(",")[1]); // one value so far: a level line
    var label = name === "runs" ? "+" + number(tr[tr.length - 1][1] - tr[0][1]) : number(lo) + "–" + number(hi);
    return '<span class="trend" title="' + esc(name) + '"><svg width="' + w + '" height="' + h + '" viewBox="0 0 ' +
           w + " " + h + '"><polyline fill="none" stroke="currentColor" stroke-width="1.5" points="' +
           pts.join(" ") + '"/></svg><small>' + esc(name) + " " + label + "</small></span>";
  }

  // The points a person reads first; a device with none of them shows all its points.
  var KEY_POINTS = ["level", "flow", "velocity", "forward_total", "rainfall", "intensity", "pit_level", "current",
                    "floor", "speed", "load", "runs", "door_cycles", "running_hours", "fault_code", "mode"];

  function values(d) {
    var keys = KEY_POINTS.filter(function (k) { return k in d.values; }), out = [];
    if (!keys.length) keys = Object.keys(d.values);
    for (var i = 0; i < keys.length; i++)
      out.push('<span class="val">' + esc(keys[i]) + " <b>" + esc(withUnit(keys[i], d.values[keys[i]])) + "</b></span>");
    var rest = Object.keys(d.values).length - keys.length;
    if (rest > 0) out.push('<span class="sub" title="' + esc(Object.keys(d.values).filter(function (k) {
      return keys.indexOf(k) < 0; }).map(function (k) { return k + " " + d.values[k]; }).join(", ")) + '">+' + rest + "</span>");
    if (d.bad.length) out.push('<span class="bad">' + esc(d.bad.join(", ")) + "</span>");
    return out.join(" ");
  }

  function deviceRow(g, d, T) {
    var state = g.state === "offline" ? "unknown" : d.state, vals = values(d), trends = [];
    for (var i = 0; i < M.TREND_POINTS.length; i++) trends.push(spark(M.TREND_POINTS[i], d.trends[M.TREND_POINTS[i]]));
    return '<tr class="device dev-' + esc(state) + '" data-device="' + esc(d.id) + '"><td>' + esc(d.id) +
           '<div class="sub">' + esc(d.location) + "</div></td>" +
           '<td><span class="badge ' + esc(state) + '">' + T[state] + "</span>" +
           (d.errors ? '<div class="sub">' + T.errors + " " + d.errors + "</div>" : "") + "</td>" +
           '<td class="values">' + vals + "</td><td>" + trends.join("") + "</td><td>" + clock(d.ts) + "</td></tr>";
  }

  // One community's gateway: its state always, its devices when the card is open.
  function gatewayCard(g, T, open) {
    var nAlerts = Object.keys(g.alerts).length;
    var head = '<h3>' + esc(siteName(g.site)) + ' <span class="sub">' + T.gateway + " " + esc(g.id) + "</span> " +
           '<span class="badge gw-state ' + esc(g.state) + '">' + T[g.state] + "</span>" +
           (g.state === "offline" ? ' <span class="sub">' + T.since + " " + dateTime(g.statusTs) + "</span>" : "") +
           ' <span class="sub">' + g.deviceCount + " " + T.devices + " · " + nAlerts + " " + T.activeAlerts +
           "</span></h3>";
    if (!open) return head;
    // Devices by bus (from their retained states), then by id.
    var ids = Object.keys(g.devices).sort(function (a, b) {
      var x = g.devices[a].bus || "", y = g.devices[b].bus || "";
      return x < y ? -1 : x > y ? 1 : a < b ? -1 : a > b ? 1 : 0;
    }), rows = [], bus = null;
    for (var i = 0; i < ids.length; i++) {
      var d = g.devices[ids[i]];
      if (d.bus !== bus) {
        bus = d.bus;
        rows.push('<tr class="bus"><th colspan="5">' + T.bus + " " + esc(bus || "?") + "</th></tr>");
      }
      rows.push(deviceRow(g, d, T));
    }
    return head + '<table class="devices"><thead><tr><th>' + [T.device, T.online + "/" + T.offline, T.values, T.trend,
           T.lastSeen].join("</th><th>") + "</th></tr></thead><tbody>" + rows.join("") + "</tbody></table>";
  }

  // --- supervision --------------------------------------------------------------------------

  function faults(f, T) {
    var ks = Object.keys(f || {});
    return ks.length ? ks.map(function (k) { return esc(k) + " ×" + f[k]; }).join(", ") : T.none;
  }

  function figure(r, name) {
    if (r[name] === undefined || r[name] === null) return "";
    return esc(number(r[name]) + (r.units && r.units[name] ? " " + r.units[name] : ""));
  }

  function reportRow(cls, attr, g, device, r, T) {
    return '<tr class="' + cls + '" ' + attr + "><td>" + esc(siteName(g.site)) + "</td><td>" + esc(g.id) +
      "</td><td>" + device + "</td><td>" + esc(r.location) + "</td><td>" + esc(r.day) + "</td><td>" + r.readings +
      "</td><td>" + figure(r, "runs") + "</td><td>" + figure(r, "door_cycles") + "</td><td>" + figure(r, "volume") +
      "</td><td>" + figure(r, "peak_flow") + "</td><td>" + figure(r, "peak_level") + "</td><td>" +
      number(r.minutes_in_alarm) + "</td><td>" + faults(r.faults, T) + "</td></tr>";
  }

  // One community's reports added up: counts summed, peaks the highest, the latest day.
  function total(reports) {
    var t = { location: "", day: "", readings: 0, minutes_in_alarm: 0, faults: {}, units: {} };
    reports.forEach(function (r) {
      if (r.day > t.day) t.day = r.day;
      t.readings += r.readings;
      t.minutes_in_alarm += r.minutes_in_alarm;
      ["runs", "door_cycles", "volume"].forEach(function (k) {
        if (typeof r[k] === "number") t[k] = (t[k] || 0) + r[k];
      });
      ["peak_flow", "peak_level"].forEach(function (k) {
        if (typeof r[k] === "number" && !(t[k] >= r[k])) t[k] = r[k];
      });
      for (var f in r.faults || {}) t.faults[f] = (t.faults[f] || 0) + r.faults[f];
      for (var u in r.units || {}) t.units[u] = r.units[u];
    });
    return t;
  }

  // The latest daily report of every device. Past six communities each shows as one line that
  // adds its devices up (10 000 rows would take seconds to draw and pages to print); a click on
  // it lists its devices.
  function supervision(m, lang, open) {
    var T = CaretakerText[lang], rows = [], gws = M.sortedGateways(m), many = gws.length > 6;
    gws.forEach(function (g) {
      var devs = Object.keys(g.reports).sort();
      if (!devs.length) return;
      var shown = !many || open[g.prefix];
      if (many)
        rows.push(reportRow("report-sum" + (shown ? " open" : ""), 'data-prefix="' + esc(g.prefix) + '"', g,
                            devs.length + " " + T.devices, total(devs.map(function (d) { return g.reports[d]; })), T));
      if (shown)
        devs.forEach(function (dev) {
          rows.push(reportRow("report", 'data-device="' + esc(dev) + '"', g, esc(dev), g.reports[dev], T));
        });
    });
    if (!rows.length) return '<p class="empty">' + T.noReports + "</p>";
    return '<table class="reports"><thead><tr><th>' + [T.community, T.gateway, T.device, T.location, T.day,
           T.readings, T.runs, T.doorCycles, T.volume, T.peakFlow, T.peakLevel, T.minutesInAlarm, T.faults]
           .join("</th><th>") + "</th></tr></thead><tbody>" + rows.join("") + "</tbody></table>";
  }

  return { dispatch: dispatch, tickDeadlines: tickDeadlines, gatewayCard: gatewayCard, supervision: supervision };
})();
