"""The sites and supervision views in a real browser, opened after the fact: two gateways of two
communities run (one under a faked clock that passes local midnight, so its daily reports are
out and retained); the page shows both communities with their devices online, last values with
units and trends grouped by bus, and the latest daily report of each device in the printable table; a user whose
ACL reads one community sees that one alone. Killing one
gateway (SIGKILL) shows it offline, by its Last Will, within its keepalive; the other stays online."""

import signal
import sys

import browser
import harness as h

USER, PASSWORD = "district", "s3cret-d"
OM_USER, OM_PASSWORD = "om-hongmei", "s3cret-o"
# The broker's ACL decides what each user sees: the bureau every community, the O&M company of
# 红梅新村 that community alone (and it may acknowledge there).
ACL = """user district
topic read caretaker/#

user om-hongmei
topic read caretaker/hongmei/#

pattern write caretaker/+/+/cmd/+/%u
pattern read caretaker/+/+/reply/%u
"""
A, B = "caretaker/hongmei/gw-a", "caretaker/xinhua/gw-b"
START_A = "@2026-11-23 15:59:45"  # 23:59:45 in Shanghai: local midnight 15 s after the start
DAY = "2026-11-23"
LIFT = {"mode": 0, "moving": False, "dir_up": False, "door_zone": True, "door_open": False, "door_closed": True,
        "occupied": False, "safety_circuit": True, "door_lock": True, "mains_power": True, "floor": 1,
        "speed": 0.0, "runs": 100, "running_hours": 10, "door_cycles": 200}


def gateway_config(work, name, site, gw, sim, broker, devices):
    cfg = h.base_config(work, [{"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port,
                                "timeout_ms": 300, "devices": devices}],
                        gateway={"id": gw}, mqtt={"host": "127.0.0.1", "port": broker.port, "keepalive_s": 5})
    cfg["site"]["id"] = site
    cfg["store"]["path"] = work.file(name + ".db")
    return cfg


def test(started):
    work = h.Workdir("dashboard-sites")
    sim, broker, sub = browser.start(work, started, [
        {"unit": 1, "driver": "level/ultrasonic-generic", "values": {"decimals": 2, "level": 0.30}},
        {"unit": 2, "driver": "elevator/generic", "values": LIFT},
        {"unit": 3, "driver": "level/ultrasonic-generic", "values": {"decimals": 2, "level": 0.45}}],
        {USER: PASSWORD, OM_USER: OM_PASSWORD}, acl=ACL)
    # A card shows the readings that arrive once it is open, and these values stand still: every
    # poll published in full (report_max_s 0), so the card fills without waiting for a snapshot.
    level = {"driver": "level/ultrasonic-generic", "poll_ms": 250, "params": {"pipe_d_m": 3.0}, "report_max_s": 0}
    cfg_a = gateway_config(work, "gw-a", "hongmei", "gw-a", sim, broker, [
        dict(level, id="manhole-a", unit=1, location="3号楼北侧窨井"),
        {"id": "lift-a", "unit": 2, "driver": "elevator/generic", "poll_ms": 250, "location": "3幢1单元",
         "report_max_s": 0}])
    cfg_b = gateway_config(work, "gw-b", "xinhua", "gw-b", sim, broker, [
        dict(level, id="manhole-b", unit=3, location="小区总排口")])
    gw_a = h.Daemon(work, cfg_a, name="gw-a", env=h.faked_clock(START_A))
    started.append(gw_a)
    gw_b = h.Daemon(work, cfg_b, name="gw-b")
    started.append(gw_b)

    h.wait_until("the daily reports of gw-a's devices",
                 lambda: len(sub.received(A + "/reports/daily/manhole-a") + sub.received(A + "/reports/daily/lift-a")) >= 2, 45)
    h.wait_until("gw-b's device online", lambda: any(
        p["state"] == "online" for _, p, _ in sub.received(B + "/devices/manhole-b/state")), 20)

    chrome = browser.Chromium(work)
    started.append(chrome)
    chrome.open(broker.url, USER, PASSWORD)
    chrome.view("sites")
    card_a, card_b = 'section.card[data-prefix="%s"]' % A, 'section.card[data-prefix="%s"]' % B
    chrome.wait_text("gw-a's community and devices, by bus", card_a, "红梅新村", "在线", "总线 lan", "manhole-a",
                     "3号楼北侧窨井", "lift-a", "0.3 m")
    chrome.wait_text("gw-b's community and device", card_b, "xinhua", "在线", "manhole-b", "0.45 m")
    h.wait_until("level trends drawn", lambda: chrome.js(
        "return document.querySelectorAll('tr.device .trend polyline').length") >= 2, 10)
    chrome.screenshot("sites", "#view-sites", "红梅新村", "xinhua", "manhole-b")

    chrome.view("supervision")
    table = chrome.wait_text("the retained daily reports", "#view-supervision", DAY, "manhole-a", "lift-a", "3幢1单元")
    if "manhole-b" in table:
        raise h.TestFailure("a report of gw-b, whose day has not ended:\n" + table)
    chrome.screenshot("supervision", "#view-supervision", DAY, "lift-a")

    om = browser.Chromium(work, name="chromium-om")
    started.append(om)
    om.open(broker.url, OM_USER, OM_PASSWORD)
    om.view("sites")
    om.wait_text("the O&M company's community", card_a, "红梅新村", "manhole-a", "lift-a", "在线")
    # Both gateways' retained states come in one delivery: once one is shown, the other would be.
    if om.js("return document.querySelectorAll('section.card').length") != 1:
        raise h.TestFailure("the O&M company of hongmei sees:\n" + om.text("#view-sites"))
    om.stop()
    started.remove(om)

    gw_b.stop(signal.SIGKILL)
    chrome.view("sites")
    h.wait_until("gw-b shown offline by its Last Will", lambda: chrome.js(
        "return document.querySelector(arguments[0] + ' .gw-state.offline') !== null", card_b), 20)
    chrome.wait_text("gw-b offline", card_b, "离线")
    if chrome.js("return document.querySelector(arguments[0] + ' .gw-state.online') === null", card_a):
        raise h.TestFailure("gw-a not online any more:\n" + chrome.text(card_a))
    chrome.screenshot("sites-offline", "#view-sites", "离线", "xinhua")
    if not gw_a.running():
        raise h.TestFailure("gw-a stopped:\n" + gw_a.output())


sys.exit(h.run(test))
