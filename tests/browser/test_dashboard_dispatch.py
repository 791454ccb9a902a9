"""The dispatcher's view in a real browser: a gateway raises level alerts on a manhole before
the page is opened; the page, loaded from mosquitto's http_dir and logged in with the broker's
password, shows them from the retained list (critical first, Chinese text, contractor, a running
countdown, the title-bar count) and skips another gateway's garbage, switches to English, and
acknowledges the critical one with a note under the logged-in identity: the gateway publishes
`acknowledged` with that name and note, answers the command, and the row changes. A critical
alert raised while the page is open sounds and is counted in the title."""

import sys

import browser
import harness as h

PREFIX = "caretaker/hongmei/gw-a"
USER, PASSWORD = "wang", "s3cret-w"
NOTE = "已派人前往现场"


def test(started):
    work = h.Workdir("dashboard-dispatch")
    sim, broker, sub = browser.start(work, started, [
        {"unit": 1, "driver": "level/ultrasonic-generic", "values": {"decimals": 2, "level": 0.30}}], {USER: PASSWORD})
    bus = {"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 300,
           "devices": [{"id": "manhole-3", "unit": 1, "driver": "level/ultrasonic-generic", "poll_ms": 200,
                        "location": "3号楼北侧窨井", "params": {"pipe_d_m": 3.0, "rim_m": 2.0}}]}
    contracts = [{"id": "sewage-om", "contractor": "某排水运维公司", "covers": ["sewage"],
                  "respond_minutes": {"critical": 30, "major": 240, "minor": 1440}}]
    cfg = h.base_config(work, [bus], gateway={"id": "gw-a"}, contracts=contracts,
                        mqtt={"host": "127.0.0.1", "port": broker.port},
                        commands={"commanders": {USER: {"role": "contractor", "contracts": ["sewage-om"]}}})
    daemon = h.Daemon(work, cfg)
    started.append(daemon)

    sim.cmd("set 1 level 1.90")  # high level and overflow risk (major), overflow imminent (critical)

    def active():
        lists = [p for t, p, _ in sub.received(PREFIX + "/alerts/active")]
        return lists and lists[-1]["count"] >= 3 and lists[-1]
    listed = h.wait_until("three active alerts retained", active, 30)
    crit = next(a for a in listed["alerts"] if a["severity"] == "critical")

    # Another gateway's retained messages are garbage: the page skips them and stays connected.
    sub.publish("caretaker/hongmei/gw-bad/alerts/active", b'{"v":1,"alerts":"none"}', retain=True)
    sub.publish("caretaker/hongmei/gw-bad/status", b"\xff not json", retain=True)

    chrome = browser.Chromium(work)
    started.append(chrome)
    chrome.open(broker.url, USER, PASSWORD)
    table = chrome.wait_text("the retained alerts shown", "#view-dispatch",
                             crit["message"]["zh"], "3号楼北侧窨井", "manhole-3", "某排水运维公司", "红梅新村")
    first = h.wait_until("three alert rows", lambda: chrome.js(
        "var r = document.querySelectorAll('tr.alert'); return r.length == 3 && r[0].dataset.alertId"))
    if first != crit["id"]:
        raise h.TestFailure("first row %r, expected the critical %r:\n%s" % (first, crit["id"], table))
    deadline = chrome.text("tr.alert td.deadline")
    if not deadline or deadline == "—" or chrome.js("return document.querySelector('tr.alert td.deadline')"
                                                    ".classList.contains('overdue')"):
        raise h.TestFailure("countdown %r of an alert due in 30 minutes" % deadline)
    h.wait_until("the countdown moving", lambda: chrome.text("tr.alert td.deadline") not in ("", deadline), 5)
    h.wait_until("the title counting one critical alert", lambda: chrome.driver.title.startswith("(1) "), 5)
    if chrome.js("return window.caretakerDashboard.stats.refused") != 2:
        raise h.TestFailure("refused %r messages, expected the 2 bad ones" % chrome.js(
            "return window.caretakerDashboard.stats.refused"))
    h.wait_until("the alarm sounded for the critical alert",
                 lambda: chrome.js("return window.caretakerDashboard.stats.beeps") >= 1, 5)

    chrome.driver.find_element("id", "lang").click()
    chrome.wait_text("the English texts", "#view-dispatch", crit["message"]["en"], "critical")
    chrome.driver.find_element("id", "lang").click()
    chrome.wait_text("the Chinese texts again", "#view-dispatch", crit["message"]["zh"], "紧急")

    # A person's click: the button found and pressed at once (the table may be redrawn between
    # two calls when an alert event arrives).
    chrome.js("document.querySelector(arguments[0]).click()", 'tr.alert[data-alert-id="%s"] button.ack' % crit["id"])
    chrome.wait_text("the ack dialog naming the user", "#ack-dialog", USER)
    chrome.driver.find_element("id", "ack-note").send_keys(NOTE)
    chrome.driver.find_element("id", "ack-send").click()

    def acked():
        return [p for _, p, _ in sub.received(PREFIX + "/alerts")
                if p["event"] == "acknowledged" and p["id"] == crit["id"]]
    event = h.wait_until("the gateway's acknowledged event", acked, 20)[0]
    if event["acked_by"] != USER or event.get("note") != NOTE:
        raise h.TestFailure("acknowledged by %r with note %r" % (event["acked_by"], event.get("note")))
    row = 'tr.alert[data-alert-id="%s"] td.stage' % crit["id"]
    chrome.wait_text("the row acknowledged", row, "已确认", USER, NOTE)
    chrome.wait_text("the gateway's reply shown", "ul.replies", 'acknowledged "%s"' % crit["id"])
    h.wait_until("the title without a count", lambda: not chrome.driver.title.startswith("("), 5)
    chrome.screenshot("dispatch", "#view-dispatch", "已确认", crit["message"]["zh"])

    # A critical alert that arrives while the page is open sounds and is counted in the title.
    beeps = chrome.js("return window.caretakerDashboard.stats.beeps")
    sim.cmd("set 1 level 0.30")
    h.wait_until("the alerts cleared in the page", lambda: chrome.js(
        "return document.querySelectorAll('tr.alert').length") == 0, 20)
    sim.cmd("set 1 level 1.90")
    h.wait_until("the new critical alert counted in the title", lambda: chrome.driver.title.startswith("(1) "), 20)
    h.wait_until("the alarm sounded again", lambda: chrome.js("return window.caretakerDashboard.stats.beeps") > beeps, 5)

    if not daemon.running():
        raise h.TestFailure("the daemon stopped:\n" + daemon.output())


sys.exit(h.run(test))
