"""The page over https: a page served over https proposes wss on its own host (never ws), and
connected to the broker's WebSockets listener with a certificate it logs in over wss and shows a
gateway's retained present; a wrong password is refused with the broker's reason and the page
stays on its login form. The files come from a separate https server, as a city's web server
would serve them: Debian's mosquitto 2.0.11 offers HTTP/2 on a TLS WebSockets listener and
browsers then fail to load its http_dir pages (docs/dashboard.md), while wss itself works."""

import json
import sys

import browser
import harness as h

USER, PASSWORD = "wang", "s3cret-w"
PREFIX = "caretaker/hongmei/gw-tls"


def test(started):
    work = h.Workdir("dashboard-tls")
    broker = browser.dashboard_broker(work, {USER: PASSWORD}, tls=True)
    started.append(broker)
    files = browser.HttpsFiles(work, broker.cert, broker.key)
    started.append(files)
    pub = h.Subscriber(broker.port, PREFIX + "/#", name="publisher")
    started.append(pub)
    pub.publish(PREFIX + "/status", json.dumps({"v": 1, "gateway": "gw-tls", "seq": 0, "ts": 1796400000000,
                                                "state": "online", "version": "0.1.0"}).encode(), retain=True)
    # The certificate is the test's own: Chromium is told to take it, as a browser whose
    # administrator installed the city's CA would.
    chrome = browser.Chromium(work, flags=["--ignore-certificate-errors"])
    started.append(chrome)
    page = "https://127.0.0.1:%d/index.html" % files.port

    chrome.driver.get(page)
    proposed = chrome.js("return document.getElementById('broker').value")
    if proposed != "wss://127.0.0.1:%d/mqtt" % files.port:
        raise h.TestFailure("a page served over https proposes the broker %r" % proposed)

    wss = "wss://127.0.0.1:%d/mqtt" % broker.ports[0]
    chrome.driver.get(page + "?broker=" + wss)
    chrome.driver.find_element("id", "user").send_keys(USER)
    chrome.driver.find_element("id", "password").send_keys("wrong")
    chrome.driver.find_element("id", "login-button").click()
    chrome.wait_text("the refusal shown", "#login-error", "登录失败")
    if not chrome.js("return document.getElementById('app').hidden"):
        raise h.TestFailure("the page opened with a wrong password")

    chrome.open(page + "?broker=" + wss, USER, PASSWORD)
    conn = chrome.text("#conn")
    if wss not in conn:
        raise h.TestFailure("connected with %r, expected %s" % (conn, wss))
    if chrome.js("return document.getElementById('password').value") != "":
        raise h.TestFailure("the password stays in the form after login")
    chrome.wait_text("the gateway's retained status", "#view-dispatch", "1/1")
    chrome.view("sites")
    chrome.wait_text("the gateway online", 'section.card[data-prefix="%s"]' % PREFIX, "红梅新村", "gw-tls", "在线")


sys.exit(h.run(test))
