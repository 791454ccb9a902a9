"""TLS to the broker with a CA, a server and a client certificate made here by openssl, and a
user whose password is read from a private file: the gateway connects and publishes. It must
never connect otherwise, over all its retries (every connection it opens passes a relay that
records its first byte: a TLS ClientHello each time, never a plaintext CONNECT): not with a CA
that did not sign the broker's certificate, not to a broker whose certificate names another
host, not to a plaintext listener, and with a wrong password the broker's refusal is logged and
nothing is published. A world-readable password file is refused at start, and no password ever
appears in a log."""

import os
import subprocess
import sys

import harness as h
import tlskit

SECRET = "s3cret-Pa55-for-test"
WRONG = "wr0ng-Pa55-for-test"


def test(started):
    work = h.Workdir("mqtt-tls")
    tlskit.make_pki(work)
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
    elsewhere_listener = tls_listener.replace("server.pem", "elsewhere.pem").replace("server.key", "elsewhere.key")
    sim_path = work.file("scenario.json")
    with open(sim_path, "w") as f:
        f.write('{"devices": [{"unit": 1, "driver": "level/ultrasonic-generic", '
                '"values": {"decimals": 3, "level": 1.5}}]}')
    # the subscriber uses the plain listener
    sim, broker, sub = h.stack(started, work, sim_path, "caretaker/#",
                               broker=dict(listeners=[tls_listener, elsewhere_listener]))
    tls_port, elsewhere_port = broker.ports

    def secret_file(name, text, mode):
        path = work.file(name)
        with open(path, "w") as f:
            f.write(text + "\n")
        os.chmod(path, mode)
        return path

    pw_file = secret_file("mqtt.pass", SECRET, 0o600)

    def config(gw, port, ca="ca.pem", password_file=pw_file):
        bus = {"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 500,
               "devices": [{"id": "manhole-3", "unit": 1, "driver": "level/ultrasonic-generic", "poll_ms": 100,
                            "report_max_s": 0}]}  # readings are the traffic under test: every poll in full
        cfg = h.base_config(work, [bus], mqtt=broker.mqtt(
            port=port, username="gw-01", password_file=password_file,
            tls={"ca_file": work.file(ca), "cert_file": work.file("client.pem"), "key_file": work.file("client.key")}))
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

    # 2.-5. Each through a relay that sees every connection the daemon opens, over its retries
    cases = {
        "gw-wrongca": dict(target=tls_port, ca="other-ca.pem"),      # a CA that did not sign the broker
        "gw-plain": dict(target=broker.port),                        # a plaintext listener
        "gw-elsewhere": dict(target=elsewhere_port),                  # a certificate for another host
        "gw-wrongpw": dict(target=tls_port, password_file=secret_file("wrong.pass", WRONG, 0o600)),
    }
    daemons = {}
    for gw, case in cases.items():
        relay = tlskit.Relay(case.pop("target"), name=gw)
        started.append(relay)
        d = h.Daemon(work, config(gw, relay.port, **case), name=gw)
        started.append(d)
        daemons[gw] = (d, relay)
    for gw, (d, relay) in daemons.items():
        h.wait_until("three connects of %s" % gw, lambda: len(relay.first_bytes()) >= 3)
    for gw, (d, relay) in daemons.items():
        tlskit.assert_only_tls(relay, gw)

    out = {gw: d.output() for gw, (d, _) in daemons.items()}
    for gw in ("gw-wrongca", "gw-plain", "gw-elsewhere"):
        if "cannot connect" not in out[gw] or "TLS handshake failed" not in out[gw]:
            raise h.TestFailure("%s: no failed TLS handshake logged:\n%s" % (gw, out[gw]))
    if "host name verification failed" not in out["gw-elsewhere"]:
        raise h.TestFailure("the wrong host name is not what the log says:\n" + out["gw-elsewhere"])
    if "refused the connection: Not authorized" not in out["gw-wrongpw"]:
        raise h.TestFailure("the broker's refusal of the password is not logged:\n" + out["gw-wrongpw"])
    broker_log = open(broker.log_path).read()
    for gw, (d, _) in daemons.items():
        if under(gw):
            raise h.TestFailure("%s published: %r" % (gw, under(gw)[:2]))
        if "as caretaker-hongmei-%s " % gw in broker_log:
            raise h.TestFailure("the broker accepted a connection from %s" % gw)
        if not d.running():
            raise h.TestFailure("%s stopped instead of retrying:\n%s" % (gw, d.output()))
        d.stop()
    if h.query(work.file("gw-wrongpw.db"), "SELECT count(*) FROM outbox WHERE sent = 1") != [(0,)]:
        raise h.TestFailure("rows marked sent although the broker refused the password")

    # 4. A password file every user can read is refused before anything starts
    open_pw = secret_file("open.pass", SECRET, 0o644)
    refused = h.Daemon(work, config("gw-openpw", tls_port, password_file=open_pw), name="openpw")
    started.append(refused)
    code = refused.proc.wait(15)
    out = refused.output()
    if code != 1 or "readable by every user" not in out or "chmod 600" not in out:
        raise h.TestFailure("world-readable password file: exit %s, output:\n%s" % (code, out))
    if h.query(work.file("gw-openpw.db"), "SELECT count(*) FROM outbox WHERE sent = 1") not in ([], [(0,)]):
        raise h.TestFailure("something was sent with a refused password file")

    for name in ["good", "openpw"] + list(cases):
        text = open(work.file(name + ".log")).read()
        if SECRET in text or WRONG in text:
            raise h.TestFailure("a password appears in %s.log" % name)


sys.exit(h.run(test))
