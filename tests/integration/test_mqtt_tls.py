"""TLS to the broker with a CA, a server and a client certificate made here by openssl, and a
user whose password is read from a private file: the gateway connects and publishes. With a CA
that did not sign the broker's certificate it must refuse to connect, and pointed at a plaintext
listener it must fail rather than fall back to plaintext. A world-readable password file is
refused at start, and the password never appears in a log."""

import os
import subprocess
import sys

import harness as h

SECRET = "s3cret-Pa55-for-test"


def openssl(work, *args):
    r = subprocess.run(["openssl"] + list(args), cwd=work.path, capture_output=True, text=True)
    if r.returncode != 0:
        raise h.TestFailure("openssl %s: %s" % (" ".join(args), r.stderr))


def make_pki(work):
    """A CA, a server certificate for 127.0.0.1 / localhost and a client certificate, all
    signed by the CA; and a second CA that signed nothing here."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for ca in ("ca", "other-ca"):
        openssl(work, "req", "-x509", *ec, "-keyout", ca + ".key", "-out", ca + ".pem", "-days", "2",
                "-subj", "/CN=Caretaker test %s" % ca)
    with open(work.file("server.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, ext in (("server", ["-extfile", "server.ext"]), ("client", [])):
        openssl(work, "req", *ec, "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=%s" % name)
        openssl(work, "x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", name + ".pem", "-days", "2", *ext)


def test(started):
    work = h.Workdir("mqtt-tls")
    make_pki(work)
    passwd = work.file("broker.passwd")
    subprocess.run(["mosquitto_passwd", "-b", "-c", passwd, "gw-01", SECRET], check=True, capture_output=True)
    tls_listener = "\n".join([
        "listener {port} 127.0.0.1",
        "cafile " + work.file("ca.pem"),
        "certfile " + work.file("server.pem"),
        "keyfile " + work.file("server.key"),
        "require_certificate true",
        "allow_anonymous false",
        "password_file " + passwd,
    ])
    broker = h.Broker(work, listeners=[tls_listener])
    started.append(broker)
    tls_port = broker.ports[0]
    sub = h.Subscriber(broker.port, "caretaker/#")  # the subscriber uses the plain listener
    started.append(sub)

    sim_path = work.file("scenario.json")
    with open(sim_path, "w") as f:
        f.write('{"devices": [{"unit": 1, "driver": "level/ultrasonic-generic", '
                '"values": {"decimals": 3, "level": 1.5}}]}')
    sim = h.Sim(work, sim_path, tcp=True)
    started.append(sim)

    pw_file = work.file("mqtt.pass")
    with open(pw_file, "w") as f:
        f.write(SECRET + "\n")
    os.chmod(pw_file, 0o600)

    def config(gw, port, ca="ca.pem", password_file=pw_file):
        bus = {"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 500,
               "devices": [{"id": "manhole-3", "unit": 1, "driver": "level/ultrasonic-generic", "poll_ms": 100}]}
        cfg = h.base_config(work, [bus], mqtt={
            "host": "127.0.0.1", "port": port, "username": "gw-01", "password_file": password_file,
            "tls": {"ca_file": work.file(ca), "cert_file": work.file("client.pem"),
                    "key_file": work.file("client.key")}})
        cfg["gateway"]["id"] = gw
        cfg["store"]["path"] = work.file(gw + ".db")
        return cfg

    def under(gw):
        return [m for t, m, _ in sub.received() if t.startswith("caretaker/hongmei/%s/" % gw)]

    # 1. The right CA, client certificate and password: online, readings flow
    good = h.Daemon(work, config("gw-tls", tls_port), name="good")
    started.append(good)
    h.wait_until("status online over TLS", lambda: any(m.get("state") == "online" for m in under("gw-tls")))
    h.wait_until("readings over TLS", lambda: sum(1 for m in under("gw-tls") if "values" in m) >= 3)
    if "TLS" not in good.output():
        raise h.TestFailure("the connect line does not say TLS:\n" + good.output())
    if good.stop() != 0:
        raise h.TestFailure("daemon exited %s" % good.proc.returncode)

    # 2. A CA that did not sign the broker's certificate: no connection, ever
    wrong = h.Daemon(work, config("gw-wrongca", tls_port, ca="other-ca.pem"), name="wrongca")
    started.append(wrong)
    h.wait_until("a refused TLS connect", lambda: "cannot connect" in wrong.output() and "TLS" in wrong.output())

    # 3. TLS configured against a plaintext listener: no plaintext fallback
    plain = h.Daemon(work, config("gw-plain", broker.port), name="plain")
    started.append(plain)
    h.wait_until("a failed connect to the plain listener", lambda: "cannot connect" in plain.output())

    broker_log = open(broker.log_path).read()
    for gw, d in (("gw-wrongca", wrong), ("gw-plain", plain)):
        if under(gw):
            raise h.TestFailure("%s published: %r" % (gw, under(gw)[:2]))
        if "as caretaker-hongmei-%s " % gw in broker_log:
            raise h.TestFailure("the broker accepted a connection from %s" % gw)
        if not d.running():
            raise h.TestFailure("%s stopped instead of retrying:\n%s" % (gw, d.output()))
        d.stop()

    # 4. A password file every user can read is refused before anything starts
    open_pw = work.file("open.pass")
    with open(open_pw, "w") as f:
        f.write(SECRET + "\n")
    os.chmod(open_pw, 0o644)
    refused = h.Daemon(work, config("gw-openpw", tls_port, password_file=open_pw), name="openpw")
    started.append(refused)
    code = refused.proc.wait(15)
    out = refused.output()
    if code != 1 or "readable by every user" not in out or "chmod 600" not in out:
        raise h.TestFailure("world-readable password file: exit %s, output:\n%s" % (code, out))
    if h.query(work.file("gw-openpw.db"), "SELECT count(*) FROM outbox WHERE sent = 1") not in ([], [(0,)]):
        raise h.TestFailure("something was sent with a refused password file")

    for name in ("good", "wrongca", "plain", "openpw"):
        if SECRET in open(work.file(name + ".log")).read():
            raise h.TestFailure("the password appears in %s.log" % name)


sys.exit(h.run(test))
