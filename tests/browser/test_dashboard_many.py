"""A district of many communities: past six gateways, the sites view starts with every card
closed and subscribes to no readings until one is opened, and the supervision view adds each
community's reports up in one line (runs and volume summed, the highest peak, faults merged)
that lists its devices when clicked. The retained present is published here for seven gateways
in the contract's shapes (docs/mqtt.md), as their daemons would have left it on the broker."""

import json
import sys

import browser
import harness as h

USER, PASSWORD = "district", "s3cret-d"
GATEWAYS = 7
DAY = "2026-12-04"


def report(gw, device, runs, volume, peak, faults):
    return {"v": 1, "gateway": gw, "seq": 10, "ts": 1796400000000, "device": device, "report": "daily", "day": DAY,
            "timezone": "Asia/Shanghai", "from_ts": 1796313600000, "to_ts": 1796400000000, "location": "1号楼",
            "kind": "elevator", "readings": 100, "first_reading_ts": None, "last_reading_ts": None, "runs": runs,
            "volume": volume, "peak_level": peak, "units": {"volume": "m3"}, "minutes_in_alarm": 1.5,
            "faults": faults}


def test(started):
    work = h.Workdir("dashboard-many")
    broker = browser.dashboard_broker(work, {USER: PASSWORD})
    started.append(broker)
    pub = h.Subscriber(broker.port, "caretaker/#", name="publisher")
    started.append(pub)
    for i in range(GATEWAYS):
        prefix = "caretaker/site%d/gw-%d" % (i, i)
        gw = "gw-%d" % i
        pub.publish(prefix + "/status", json.dumps({"v": 1, "gateway": gw, "seq": 0, "ts": 1796400000000,
                                                    "state": "online"}).encode(), retain=True)
        pub.publish(prefix + "/reports/daily/lift-1", json.dumps(
            report(gw, "lift-1", 100 + i, 10.5, 0.5, {"door_failure": 1})).encode(), retain=True)
        pub.publish(prefix + "/reports/daily/lift-2", json.dumps(
            report(gw, "lift-2", 20, 2.0, 0.9, {"door_failure": 2, "overspeed": 1})).encode(), retain=True)

    chrome = browser.Chromium(work)
    started.append(chrome)
    chrome.open(broker.url, USER, PASSWORD)
    chrome.view("supervision")
    chrome.wait_text("seven communities added up", "#view-supervision", "site6")
    rows = h.wait_until("one line per community", lambda: (lambda n: n == GATEWAYS and n)(chrome.js(
        "return document.querySelectorAll('tr.report-sum').length")), 10)
    if chrome.js("return document.querySelectorAll('tr.report').length"):
        raise h.TestFailure("device rows listed before a community was opened")
    first = chrome.text('tr.report-sum[data-prefix="caretaker/site0/gw-0"]')
    for needle in ("2 ", DAY, "120", "12.5 m3", "0.9", "3", "door_failure ×3", "overspeed ×1"):
        if needle not in first:
            raise h.TestFailure("%r missing from the sum of site0: %r" % (needle, first))
    chrome.js("document.querySelector('tr.report-sum[data-prefix=\"caretaker/site0/gw-0\"]').click()")
    h.wait_until("site0's devices listed", lambda: chrome.js(
        "return document.querySelectorAll('tr.report').length") == 2, 5)

    chrome.view("sites")
    h.wait_until("every card shown", lambda: chrome.js("return document.querySelectorAll('section.card').length")
                 == GATEWAYS, 10)
    if chrome.js("return document.querySelectorAll('section.card:not(.collapsed)').length"):
        raise h.TestFailure("cards open by themselves with %d communities" % rows)

    # A reading of a closed community does not reach the page; the status after it does (one
    # publisher, so the broker keeps their order).
    reading = json.dumps({"v": 1, "gateway": "gw-0", "seq": 11, "ts": 1796400001000, "device": "lift-1",
                          "values": {"floor": 4, "runs": 5000}}).encode()
    pub.publish("caretaker/site0/gw-0/devices/lift-1/readings", reading)
    pub.publish("caretaker/site1/gw-1/status", b'{"v":1,"gateway":"gw-1","seq":0,"state":"offline"}', retain=True)
    card0, card1 = 'section.card[data-prefix="caretaker/site0/gw-0"]', 'section.card[data-prefix="caretaker/site1/gw-1"]'
    chrome.wait_text("site1 offline", card1, "离线")
    if chrome.js("return window.caretakerDashboard.model.gateways['caretaker/site0/gw-0'].devices['lift-1'].ts") is not None:
        raise h.TestFailure("a reading of a closed community reached the page")
    chrome.js("document.querySelector(arguments[0] + ' h3').click()", card0)
    h.wait_until("site0's card open", lambda: chrome.js(
        "return !document.querySelector(arguments[0]).classList.contains('collapsed')", card0), 5)
    h.wait_until("site0's readings subscribed", lambda: (pub.publish(
        "caretaker/site0/gw-0/devices/lift-1/readings", reading), "runs 5000" in chrome.text(card0))[1], 10, 0.5)

    # Report by exception: a partial reading changes the points it carries, the others stand.
    partial = json.dumps({"v": 1, "gateway": "gw-0", "seq": 12, "ts": 1796400002000, "device": "lift-1",
                          "values": {"runs": 5001}, "full": False, "snapshot_ts": 1796400001000}).encode()
    pub.publish("caretaker/site0/gw-0/devices/lift-1/readings", partial)
    h.wait_until("runs 5001 shown", lambda: "runs 5001" in chrome.text(card0), 5)
    values = chrome.js("return window.caretakerDashboard.model.gateways['caretaker/site0/gw-0'].devices['lift-1'].values")
    if values != {"floor": 4, "runs": 5001}:
        raise h.TestFailure("after a partial reading the device holds %r" % (values,))
    # A contract v2 batch: the device's latest reading in it is what the card shows.
    batch = json.dumps({"v": 2, "gateway": "gw-0", "devices": [
        {"device": "lift-1", "points": ["floor", "runs"], "readings": [
            {"seq": 13, "ts": 1796400003000, "values": [5, 5002], "full": True, "snapshot_ts": 1796400003000},
            {"seq": 14, "ts": 1796400004000, "values": [6, 5003], "full": True, "snapshot_ts": 1796400004000}]},
        {"device": "lift-1", "points": ["runs"], "readings": [
            {"seq": 15, "ts": 1796400005000, "values": [5004], "full": False, "snapshot_ts": 1796400004000}]}]}).encode()
    pub.publish("caretaker/site0/gw-0/v2/readings", batch)
    chrome.wait_text("a v2 batch's latest reading shown", card0, "runs 5004")
    values = chrome.js("return window.caretakerDashboard.model.gateways['caretaker/site0/gw-0'].devices['lift-1'].values")
    if values != {"floor": 6, "runs": 5004}:
        raise h.TestFailure("after a v2 batch ending in a partial reading the device holds %r" % (values,))


sys.exit(h.run(test))
