"""browser: what the dashboard tests share — a mosquitto serving dashboard/ on a WebSockets
listener that asks for a password (the plain listener beside it stays open to the daemons),
Debian's headless Chromium driven through chromedriver, login, DOM text waits, screenshots."""

import os
import subprocess
import tempfile

import harness as h

DASHBOARD = os.path.join(h.SRC, "dashboard")
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1400,900", "--lang=zh-CN"]


def self_signed(work):
    """A certificate for 127.0.0.1 and its key, made here by openssl: (cert path, key path)."""
    cert, key = work.file("web.pem"), work.file("web.key")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"], capture_output=True, text=True)
    if r.returncode != 0:
        raise h.TestFailure("openssl: " + r.stderr)
    return cert, key


def dashboard_broker(work, users, tls=False, acl=None):
    """A Broker whose second listener serves the page and MQTT over WebSockets (with TLS: https
    and wss) to `users` ({name: password}), under the ACL file text `acl` when given; returns it
    with the page's URL in .url."""
    pw = work.file("dashboard.passwd")
    for i, (name, password) in enumerate(users.items()):
        subprocess.run(["mosquitto_passwd", "-b"] + (["-c"] if i == 0 else []) + [pw, name, password],
                       check=True, capture_output=True)
    os.chmod(pw, 0o600)
    lines = ["listener {port} 127.0.0.1", "protocol websockets", "http_dir " + DASHBOARD,
             "allow_anonymous false", "password_file " + pw]
    if acl:
        with open(work.file("dashboard.acl"), "w") as f:
            f.write(acl)
        lines.append("acl_file " + work.file("dashboard.acl"))
    cert = key = None
    if tls:
        cert, key = self_signed(work)
        lines += ["certfile " + cert, "keyfile " + key]
    broker = h.Broker(work, listeners=["\n".join(lines)])
    broker.cert, broker.key = cert, key
    broker.url = "%s://127.0.0.1:%d/index.html" % ("https" if tls else "http", broker.ports[0])
    return broker


def start(work, started, devices, users, acl=None):
    """The simulator serving `devices` over TCP, the dashboard's broker for `users` (under `acl`)
    and a subscriber to everything under caretaker/: (sim, broker, sub), each in `started`."""
    sim = h.Sim(work, h.scenario(work, devices), tcp=True)
    started.append(sim)
    broker = dashboard_broker(work, users, acl=acl)
    started.append(broker)
    sub = h.Subscriber(broker.port, "caretaker/#")
    started.append(sub)
    return sim, broker, sub


class HttpsFiles:
    """dashboard/ served over https by Python's http.server, as a city's web server would serve
    the page apart from the broker; stopped by PID."""

    def __init__(self, work, cert, key):
        import sys
        self.port = h.free_port()
        self.log = open(work.file("https.log"), "w")
        code = ("import http.server, ssl, functools, sys\n"
                "port, root, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]\n"
                "handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)\n"
                "srv = http.server.ThreadingHTTPServer(('127.0.0.1', port), handler)\n"
                "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(cert, key)\n"
                "srv.socket = ctx.wrap_socket(srv.socket, server_side=True)\n"
                "srv.serve_forever()\n")
        self.proc = subprocess.Popen([sys.executable, "-c", code, str(self.port), DASHBOARD, cert, key],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        import socket
        h.wait_until("the https server", lambda: self.proc.poll() is None and _accepts(socket, self.port), 10)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)
        self.log.close()


def _accepts(socket, port):
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
        return True
    except OSError:
        return False


class Chromium:
    """Headless Chromium with a fresh profile in the test's work directory."""

    def __init__(self, work, name="chromium", flags=()):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        for path, pkg in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
            if not os.path.exists(path):
                raise h.TestFailure("%s is missing (Debian package %s; tools/install-deps.sh --test)" % (path, pkg))
        self.work = work
        options = webdriver.ChromeOptions()
        for flag in FLAGS + list(flags):
            options.add_argument(flag)
        options.add_argument("--user-data-dir=" + tempfile.mkdtemp(prefix=name + "-profile-", dir=work.path))
        options.binary_location = CHROMIUM
        self.driver_log = work.file(name + "-driver.log")
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER, log_path=self.driver_log), options=options)
        self.driver.set_page_load_timeout(20)

    def open(self, url, user, password):
        """Loads the page and logs in; waits for the connection."""
        d = self.driver
        d.get(url)
        d.find_element("id", "user").send_keys(user)
        d.find_element("id", "password").send_keys(password)
        d.find_element("id", "login-button").click()
        h.wait_until("the page connected to the broker",
                     lambda: "connected" in (self.js("return document.getElementById('conn').className") or "")
                     and not self.js("return document.getElementById('app').hidden"), 15)

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def text(self, selector="body"):
        return self.js("var e = document.querySelector(arguments[0]); return e ? e.innerText : ''", selector)

    def view(self, name):
        self.driver.find_element("id", "tab-" + name).click()
        h.wait_until("the %s view shown" % name, lambda: not self.js(
            "return document.getElementById('view-' + arguments[0]).hidden", name), 5)

    def wait_text(self, what, selector, *needles, timeout=20):
        """Waits until the element's text holds every needle; returns that text."""
        return h.wait_until(what, lambda: (lambda t: t if all(n in t for n in needles) else None)(self.text(selector)),
                            timeout)

    def screenshot(self, name, selector, *needles):
        """Saves <name>.png in the work directory once the element shows every needle."""
        self.wait_text("%s before its screenshot" % name, selector, *needles)
        path = self.work.file(name + ".png")
        if not self.driver.save_screenshot(path):
            raise h.TestFailure("no screenshot saved to %s" % path)
        print("screenshot %s" % path)
        return path

    def stop(self):
        self.driver.quit()
