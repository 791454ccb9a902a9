"""The TLS policy towards the broker, against the real daemon:
- `caretaker check` refuses what `run` refuses at start, with the same message: a password file
  without a user name, a CA, certificate or key file that cannot be read, a key or password
  file other users may read (and a key file shared with a group not the service's);
- the lowest TLS version: a server offering only TLS 1.1 is refused by default; one offering
  only TLS 1.2 is accepted by default and refused with tls_version "tlsv1.3";
- without ca_file the system's CAs are used, with verification on: a broker whose CA is not in
  the system store is refused, and the same config connects once that CA is the system's
  (SSL_CERT_FILE, OpenSSL's own variable for its default store).
Over every refusal, nothing but TLS handshakes reach the server."""

import os
import socket
import ssl
import subprocess
import sys
import warnings

import harness as h
import tlskit


PASSWORD = "policy-Pa55-word"


def check_and_run(work, name, cfg, cmds=("check", "run")):
    """(exit code, output) of `caretaker check`, then of `caretaker run`, on cfg."""
    import json
    path = work.file(name + ".json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    out = []
    for cmd in cmds:
        r = subprocess.run([h.BIN, cmd, "-c", path, "-d", h.DRIVERS], capture_output=True, text=True, timeout=30)
        out.append((r.returncode, r.stdout + r.stderr))
    return out


def refusals(work):
    def mqtt_config(name, **tls):
        cfg = h.base_config(work, [], mqtt={"host": "127.0.0.1", "port": h.free_port(), "username": "gw",
                                            "password_file": work.file("mqtt.pass"),
                                            "tls": dict(dict(ca_file=work.file("ca.pem"),
                                                             cert_file=work.file("client.pem"),
                                                             key_file=work.file("client.key")), **tls)})
        cfg["store"]["path"] = work.file(name + ".db")
        return cfg

    with open(work.file("mqtt.pass"), "w") as f:
        f.write(PASSWORD + "\n")
    os.chmod(work.file("mqtt.pass"), 0o600)
    os.chmod(work.file("client.key"), 0o640)  # the packaged layout: root:caretaker 0640
    [(ccode, cout)] = check_and_run(work, "good", mqtt_config("good"), cmds=("check",))
    if ccode != 0 or "OK" not in cout:
        raise h.TestFailure("check refused a good TLS config: %s" % cout)

    def shared(name, mode, gid=None):
        path = work.file(name)
        with open(work.file("client.key")) as src, open(path, "w") as f:
            f.write(src.read())
        os.chmod(path, mode)
        if gid is not None:
            os.chown(path, -1, gid)
        return path

    nouser = mqtt_config("nouser")
    del nouser["mqtt"]["username"]
    open_pw = work.file("open.pass")
    with open(open_pw, "w") as f:
        f.write(PASSWORD + "\n")
    os.chmod(open_pw, 0o644)
    openpw = mqtt_config("openpw")
    openpw["mqtt"]["password_file"] = open_pw
    cases = [
        ("nouser", nouser, "mqtt.password_file: \"%s\" is set without mqtt.username" % work.file("mqtt.pass")),
        ("noca", mqtt_config("noca", ca_file=work.file("missing-ca.pem")),
         "mqtt.tls.ca_file %s: cannot read: No such file" % work.file("missing-ca.pem")),
        ("nocert", mqtt_config("nocert", cert_file=work.file("missing.pem")),
         "mqtt.tls.cert_file %s: cannot read" % work.file("missing.pem")),
        ("nokey", mqtt_config("nokey", key_file=work.file("missing.key")),
         "mqtt.tls.key_file %s: cannot open" % work.file("missing.key")),
        ("openkey", mqtt_config("openkey", key_file=shared("open.key", 0o644)),
         "mqtt.tls.key_file %s: readable by every user (mode 0644)" % work.file("open.key")),
        ("openpw", openpw, "mqtt.password_file %s: readable by every user (mode 0644)" % open_pw),
    ]
    # A group other than the daemon's: any as root, else one of the caller's other groups.
    other = 65534 if os.geteuid() == 0 else next((g for g in os.getgroups() if g != os.getegid()), None)
    if other is not None and other != os.getegid():
        cases.append(("groupkey", mqtt_config("groupkey", key_file=shared("group.key", 0o640, other)),
                      "which is not the service's (mode 0640)"))
    else:
        print("no group other than the daemon's to give a key file to: shared-group case not run")
    for name, cfg, expected in cases:
        (ccode, cout), (rcode, rout) = check_and_run(work, name, cfg)
        if ccode != 1 or expected not in cout:
            raise h.TestFailure("check on %s: exit %s, expected 1 and %r in:\n%s" % (name, ccode, expected, cout))
        if rcode != 1 or expected not in rout:
            raise h.TestFailure("run on %s: exit %s, expected 1 and %r in:\n%s" % (name, rcode, expected, rout))
        if PASSWORD in cout or PASSWORD in rout:
            raise h.TestFailure("the password appears in the output on %s" % name)


def tls11_possible(server):
    """Whether this machine's OpenSSL can still speak TLS 1.1 at all: a client that asks for
    it (at security level 0) completes a handshake with the server."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        with socket.create_connection(("127.0.0.1", server.port), 5) as s, ctx.wrap_socket(s) as t:
            t.sendall(b"probe")
            return t.version() == "TLSv1.1"
    except (ssl.SSLError, OSError, ValueError):
        return False


def versions(work, started):
    def daemon(name, port, **tls):
        cfg = h.base_config(work, [], mqtt={"host": "127.0.0.1", "port": port,
                                            "tls": dict(ca_file=work.file("ca.pem"), **tls)})
        cfg["gateway"]["id"] = name
        cfg["store"]["path"] = work.file(name + ".db")
        d = h.Daemon(work, cfg, name=name)
        started.append(d)
        return d

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # naming TLS 1.1 is the point here
        only11 = tlskit.TlsServer(work.file("server.pem"), work.file("server.key"), ssl.TLSVersion.TLSv1_1,
                                  ssl.TLSVersion.TLSv1_1, name="tls1.1")
    started.append(only11)
    only12 = tlskit.TlsServer(work.file("server.pem"), work.file("server.key"), ssl.TLSVersion.TLSv1_2,
                              ssl.TLSVersion.TLSv1_2, name="tls1.2")
    started.append(only12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        can11 = tls11_possible(only11)
    h.wait_until("the probe's connection recorded", lambda: only11.results(), 10)
    skip = 1  # the probe's own connection
    if not can11:
        print("this OpenSSL cannot speak TLS 1.1 even at security level 0: the 1.1 server is refused "
              "whatever the daemon asks; the config refusal of \"tlsv1.1\" is tested in test_config")
    d11 = daemon("gw-11", only11.port)
    d13 = daemon("gw-13", only12.port, tls_version="tlsv1.3")
    h.wait_until("three handshakes refused by TLS 1.1 and 1.2 servers",
                 lambda: len(only11.results()) >= skip + 3 and len(only12.results()) >= 3)
    for who, server, d in (("default against TLS 1.1", only11, d11), ("tlsv1.3 against TLS 1.2", only12, d13)):
        seen = server.results()[skip if server is only11 else 0:]
        bad = [r for r in seen if r["first"] != tlskit.TLS_RECORD or r["version"] or r["data"]]
        if bad:
            raise h.TestFailure("%s: a handshake succeeded or was not TLS: %r" % (who, bad))
        # the handshake fails on the version itself, not on something else
        if "TLS handshake failed" not in d.output() or "protocol version" not in d.output():
            raise h.TestFailure("%s: no handshake failed on the protocol version logged:\n%s" % (who, d.output()))
        d.stop()
    # The default offers 1.2: the handshake completes and the MQTT CONNECT comes inside it.
    before = len(only12.results())
    d12 = daemon("gw-12", only12.port)
    h.wait_until("a TLS 1.2 handshake of the default", lambda: len(only12.results()) > before)
    first = only12.results()[before]
    if first["version"] != "TLSv1.2" or not first["data"].startswith(bytes([tlskit.MQTT_CONNECT])):
        raise h.TestFailure("default against a TLS 1.2 server: %r" % first)
    d12.stop()


def system_cas(work, started):
    broker = h.Broker(work, name="sysca-broker", listeners=["\n".join([
        "listener {port} 127.0.0.1", "certfile " + work.file("server.pem"),
        "keyfile " + work.file("server.key"), "allow_anonymous true"])])
    started.append(broker)
    relay = tlskit.Relay(broker.ports[0], name="sysca")
    started.append(relay)

    def daemon(name, env=None):
        cfg = h.base_config(work, [], mqtt={"host": "127.0.0.1", "port": relay.port, "tls": {}})
        cfg["gateway"]["id"] = name
        cfg["store"]["path"] = work.file(name + ".db")
        d = h.Daemon(work, cfg, name=name, env=env)
        started.append(d)
        return d

    # The test CA is in no system store: verification is on, so the broker is refused.
    d = daemon("gw-sys")
    h.wait_until("three refused connects without ca_file", lambda: len(relay.first_bytes()) >= 3)
    tlskit.assert_only_tls(relay, "gw-sys")
    out = d.output()
    if "certificate verify failed" not in out or "mqtt: connected" in out:
        raise h.TestFailure("without ca_file, a broker signed by an unknown CA was not refused:\n" + out)
    if "caretaker-hongmei-gw-sys " in open(broker.log_path).read():
        raise h.TestFailure("the broker accepted gw-sys")
    d.stop()
    # The same config, the test CA now being the system's store: connected.
    d = daemon("gw-sys-trusted", env={"SSL_CERT_FILE": work.file("ca.pem")})
    h.wait_until("connected with the system's CAs", lambda: "mqtt: connected to" in d.output())
    tlskit.assert_only_tls(relay, "gw-sys-trusted")
    d.stop()


def test(started):
    work = h.Workdir("tls-policy")
    tlskit.make_pki(work)
    refusals(work)
    versions(work, started)
    system_cas(work, started)


sys.exit(h.run(test))
