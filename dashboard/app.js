// app: the page's life — login, the MQTT connection over WebSockets (paho-mqtt), messages into
// the model, renders of the view on screen (at most one a frame), acks, the alarm and the title.
"use strict";

(function () {
  var Topics = CaretakerTopics, Model = CaretakerModel, Views = CaretakerViews;
  var SITE_RENDER_MS = 1000; // device values change many times a second; a person reads them once
  var RENDER_SHARE = 5; // a sites render takes at most a fifth of the time: a big city stays usable
  var lang = "zh", view = "dispatch", user = "", client = null, cmdSeq = 0;
  var model = Model.create();
  var pendingAcks = {}; // alert id -> command id, until the gateway's event or a refusal
  var expanded = {}; // gateway prefix -> shown open in the sites view
  var cards = {}; // gateway prefix -> its element in the sites view
  var supOpen = {}; // gateway prefix -> its devices listed in the supervision view
  var dirty = { dispatch: true, sites: true, supervision: true };
  var frameAsked = false, titleDirty = true, lastSitesRender = 0, sitesGap = SITE_RENDER_MS, sitesTimer = null;
  var audio = null, beepTimer = null, BEEP_GATHER_MS = 250;
  var onScreen = {}; // gateway prefix -> its card is in or near the viewport
  var cardWatch = window.IntersectionObserver ? new IntersectionObserver(function (entries) {
    entries.forEach(function (e) { onScreen[e.target.getAttribute("data-prefix")] = e.isIntersecting; });
    dirty.sites = true;
    if (view === "sites") ask();
  }, { rootMargin: "300px" }) : null;
  var decoder = window.TextDecoder ? new TextDecoder() : null;
  var stats = { messages: 0, refused: 0, beeps: 0, renders: 0 };
  window.caretakerDashboard = { model: model, stats: stats };

  function $(id) { return document.getElementById(id); }
  function T() { return CaretakerText[lang]; }

  // The broker that serves the page speaks MQTT on the same listener: ws, or wss under https.
  function defaultBroker() {
    var q = /[?&]broker=([^&]+)/.exec(location.search);
    if (q) return decodeURIComponent(q[1]);
    if (location.protocol !== "http:" && location.protocol !== "https:") return "ws://127.0.0.1:8080/mqtt";
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/mqtt";
  }

  function setConn(key, detail) {
    var el = $("conn");
    el.className = "conn " + key;
    el.textContent = T()[key] + (detail ? " (" + detail + ")" : "");
  }

  // --- rendering ----------------------------------------------------------------------------

  function ask() {
    if (frameAsked) return;
    frameAsked = true;
    requestAnimationFrame(render);
  }

  // Cards off screen keep their changes (g.dirty) until they are scrolled to.
  function renderSites(now) {
    var box = $("view-sites"), gws = Model.sortedGateways(model), many = gws.length > 6;
    if (dirty.all) gws.forEach(function (g) { g.dirty = true; });
    dirty.all = false;
    for (var i = 0; i < gws.length; i++) {
      var g = gws[i], el = cards[g.prefix];
      if (!el) {
        el = cards[g.prefix] = document.createElement("section");
        el.className = "card";
        el.setAttribute("data-prefix", g.prefix);
        if (!(g.prefix in expanded)) setOpen(g.prefix, !many);
        box.appendChild(el);
        if (cardWatch) cardWatch.observe(el);
        g.dirty = true;
      }
      if (!g.dirty || (cardWatch && !onScreen[g.prefix] && el.cardHtml)) continue;
      g.dirty = false;
      el.classList.toggle("collapsed", !expanded[g.prefix]);
      el.classList.toggle("gw-offline", g.state === "offline");
      // A closed card's header seldom changes though its devices report every second.
      var html = Views.gatewayCard(g, T(), expanded[g.prefix]);
      if (el.cardHtml !== html) el.innerHTML = el.cardHtml = html;
    }
    lastSitesRender = now;
    sitesGap = Math.max(SITE_RENDER_MS, RENDER_SHARE * (Date.now() - now));
  }

  // An open card shows its gateway's readings, so the page subscribes to them only then: a wall
  // screen of 200 gateways receives their states and alerts, not 5 000 readings a second.
  function setOpen(prefix, open) {
    expanded[prefix] = open;
    if (!client || !client.isConnected()) return; // subscribed at (re)connect
    Topics.readings(prefix).forEach(function (f) {
      if (open) client.subscribe(f, { qos: 0 });
      else client.unsubscribe(f);
    });
  }

  function render() {
    frameAsked = false;
    var now = Date.now();
    stats.renders++;
    if (titleDirty) updateTitle();
    if (view === "dispatch" && dirty.dispatch) {
      $("view-dispatch").innerHTML = Views.dispatch(model, lang, now, pendingAcks);
      dirty.dispatch = false;
    } else if (view === "sites" && dirty.sites) {
      if (now - lastSitesRender < sitesGap) {
        if (!sitesTimer) sitesTimer = setTimeout(function () { sitesTimer = null; ask(); }, sitesGap - (now - lastSitesRender));
        return;
      }
      renderSites(now);
      dirty.sites = false;
    } else if (view === "supervision" && dirty.supervision) {
      $("view-supervision").innerHTML = Views.supervision(model, lang, supOpen);
      dirty.supervision = false;
    }
  }

  function markAll() {
    dirty.dispatch = dirty.sites = dirty.supervision = dirty.all = true;
    ask();
  }

  function updateTitle() {
    titleDirty = false;
    var n = Model.activeAlerts(model).filter(function (r) {
      return r.a.severity === "critical" && !r.a.acked;
    }).length;
    var t = (n ? "(" + n + ") " : "") + T().title;
    if (document.title !== t) document.title = t;
  }

  function show(name) {
    view = name;
    ["dispatch", "sites", "supervision"].forEach(function (v) {
      $("view-" + v).hidden = v !== name;
      $("tab-" + v).classList.toggle("on", v === name);
    });
    if (location.hash !== "#" + name) history.replaceState(null, "", "#" + name);
    markAll();
  }

  function translateStatic() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    var els = document.querySelectorAll("[data-t]");
    for (var i = 0; i < els.length; i++) els[i].textContent = T()[els[i].getAttribute("data-t")];
    $("lang").textContent = lang === "zh" ? "English" : "中文";
  }

  // --- alarm --------------------------------------------------------------------------------

  // Alerts arriving together (the retained lists at login) sound once.
  function alarm() {
    if (!beepTimer) beepTimer = setTimeout(beep, BEEP_GATHER_MS);
  }

  // Two short tones; the audio context is made at login, a user gesture, so browsers allow it.
  function beep() {
    beepTimer = null;
    stats.beeps++;
    if (!audio) return;
    [0, 0.35].forEach(function (at) {
      var o = audio.createOscillator(), gain = audio.createGain();
      o.frequency.value = 880;
      gain.gain.value = 0.2;
      o.connect(gain);
      gain.connect(audio.destination);
      o.start(audio.currentTime + at);
      o.stop(audio.currentTime + at + 0.25);
    });
  }

  // --- MQTT ---------------------------------------------------------------------------------

  function onMessage(msg) {
    stats.messages++;
    var t = Topics.parse(msg.destinationName), p;
    if (!t) return;
    // A payload the page cannot use is counted and skipped: thrown out of here, it would make the
    // client drop the connection, and a retained one would do it again at every reconnect.
    var fresh;
    try {
      p = JSON.parse(decoder ? decoder.decode(msg.payloadBytes) : msg.payloadString);
      if (!p || typeof p !== "object") throw new Error("not a JSON object");
      fresh = Model.apply(model, t, p);
    } catch (e) {
      stats.refused++;
      console.warn("skipped the message on " + msg.destinationName + ": " + e.message);
      return;
    }
    for (var i = 0; i < fresh.length; i++)
      if (fresh[i].severity === "critical" && !fresh[i].acked) { alarm(); break; }
    if (t.kind === "alert" && p.event !== "raised") delete pendingAcks[p.id];
    if (t.kind === "reply" && !p.ok) {
      for (var id in pendingAcks) if (pendingAcks[id] === p.id) delete pendingAcks[id];
    }
    if (t.kind === "alert" || t.kind === "active" || t.kind === "reply" || t.kind === "status")
      dirty.dispatch = titleDirty = true;
    if (t.kind === "report") dirty.supervision = true;
    dirty.sites = true;
    if (t.kind === "status") dirty.all = true;
    if (dirty[view] || titleDirty) ask(); // readings alone redraw nothing but the sites view
  }

  function sendAck(prefix, alertId, note) {
    var id = "ack-" + (++cmdSeq) + "-" + Date.now().toString(36), fields = { alert_id: alertId, id: id };
    if (note) fields.note = note;
    var m = new Paho.Message(JSON.stringify(Topics.commandPayload("ack", user, fields)));
    m.destinationName = Topics.command(prefix, "ack", user);
    m.qos = 1;
    client.send(m);
    pendingAcks[alertId] = id;
    dirty.dispatch = true;
    ask();
  }

  function connect(url, password) {
    setConn("connecting");
    client = new Paho.Client(url, "dash-" + user.replace(/[^A-Za-z0-9_-]/g, "") + "-" +
                             Math.random().toString(36).slice(2, 10));
    client.onMessageArrived = onMessage;
    client.onConnectionLost = function (r) { setConn("disconnected", r.errorMessage); };
    client.onConnected = function () {
      setConn("connected", url);
      Topics.subscriptions(user).forEach(function (f) { client.subscribe(f, { qos: 1 }); });
      for (var prefix in expanded)
        if (expanded[prefix]) Topics.readings(prefix).forEach(function (f) { client.subscribe(f, { qos: 0 }); });
    };
    // The password lives only in this call and in the client's memory (for its reconnects).
    client.connect({
      userName: user, password: password, useSSL: url.indexOf("wss:") === 0, keepAliveInterval: 30,
      timeout: 10, cleanSession: true, reconnect: true, mqttVersion: 4,
      onSuccess: function () {
        $("login").hidden = true;
        $("app").hidden = false;
        $("who").textContent = user;
        show(/^#(dispatch|sites|supervision)$/.test(location.hash) ? location.hash.slice(1) : "dispatch");
      },
      onFailure: function (e) {
        $("login-error").textContent = T().loginFailed + ": " + e.errorMessage;
        setConn("disconnected", e.errorMessage);
        $("login-button").disabled = false;
      }
    });
  }

  // --- wiring -------------------------------------------------------------------------------

  function openAck(prefix, id) {
    var g = model.gateways[prefix], a = g && g.alerts[id];
    if (!a) return;
    var d = $("ack-dialog");
    d.setAttribute("data-prefix", prefix);
    d.setAttribute("data-id", id);
    $("ack-what").textContent = (a.message ? a.message[lang] || a.message.zh : a.rule) + " — " + a.location + " " + a.device;
    $("ack-by").textContent = user;
    $("ack-note").value = "";
    d.hidden = false;
    $("ack-note").focus();
  }

  document.addEventListener("DOMContentLoaded", function () {
    $("broker").value = defaultBroker();
    translateStatic();
    $("login-form").addEventListener("submit", function (e) {
      e.preventDefault();
      user = $("user").value.trim();
      var pw = $("password").value;
      $("password").value = "";
      $("login-button").disabled = true;
      $("login-error").textContent = "";
      if (window.AudioContext) audio = new AudioContext();
      connect($("broker").value.trim(), pw);
    });
    ["dispatch", "sites", "supervision"].forEach(function (v) {
      $("tab-" + v).addEventListener("click", function () { show(v); });
    });
    $("lang").addEventListener("click", function () {
      lang = lang === "zh" ? "en" : "zh";
      translateStatic();
      markAll();
    });
    $("print").addEventListener("click", function () { window.print(); });
    $("logout").addEventListener("click", function () {
      if (client) client.disconnect();
      location.reload();
    });
    $("view-dispatch").addEventListener("click", function (e) {
      var b = e.target.closest("button.ack");
      if (b) openAck(b.getAttribute("data-prefix"), b.getAttribute("data-id"));
    });
    $("view-sites").addEventListener("click", function (e) {
      var h = e.target.closest("h3"), card = e.target.closest("section.card");
      if (!h || !card) return;
      var prefix = card.getAttribute("data-prefix");
      setOpen(prefix, !expanded[prefix]);
      model.gateways[prefix].dirty = true;
      dirty.sites = true;
      lastSitesRender = 0; // a click is answered at once
      ask();
    });
    $("view-supervision").addEventListener("click", function (e) {
      var row = e.target.closest("tr.report-sum");
      if (!row) return;
      supOpen[row.getAttribute("data-prefix")] = !supOpen[row.getAttribute("data-prefix")];
      dirty.supervision = true;
      ask();
    });
    $("ack-send").addEventListener("click", function () {
      var d = $("ack-dialog");
      sendAck(d.getAttribute("data-prefix"), d.getAttribute("data-id"), $("ack-note").value.trim());
      d.hidden = true;
    });
    $("ack-cancel").addEventListener("click", function () { $("ack-dialog").hidden = true; });
    // Countdowns move every second; the title counts even when the tab is in the background.
    setInterval(function () {
      if (view === "dispatch") Views.tickDeadlines($("view-dispatch"), Date.now(), lang);
      updateTitle();
    }, 1000);
  });
})();
