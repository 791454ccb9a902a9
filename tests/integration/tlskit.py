"""tlskit: what the TLS tests share — a test PKI made by the openssl CLI, a relay that records
the first bytes of every connection the daemon opens (so a plaintext MQTT CONNECT is seen
whenever it happens, not only once), and a TLS server of chosen versions that records each
handshake."""

import os
import socket
import ssl
import subprocess
import threading

import harness as h

TLS_RECORD = 0x16      # a TLS handshake record: the first byte of every ClientHello
MQTT_CONNECT = 0x10    # the first byte of a plaintext MQTT CONNECT


def openssl(work, *args):
    r = subprocess.run(["openssl"] + list(args), cwd=work.path, capture_output=True, text=True)
    if r.returncode != 0:
        raise h.TestFailure("openssl %s: %s" % (" ".join(args), r.stderr))


EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def make_pki(work):
    """In work: ca.pem and other-ca.pem (which signs nothing here); server.pem for 127.0.0.1 and
    localhost, elsewhere.pem for broker.example.org only, client.pem; each with its .key, all
    signed by ca.pem. Keys are written 0600."""
    for ca in ("ca", "other-ca"):
        openssl(work, "req", "-x509", *EC, "-keyout", ca + ".key", "-out", ca + ".pem", "-days", "2",
                "-subj", "/CN=Caretaker test %s" % ca)
    exts = {"server": "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
            "elsewhere": "subjectAltName=DNS:broker.example.org\n"}
    for name, text in exts.items():
        with open(work.file(name + ".ext"), "w") as f:
            f.write(text)
    for name in ("server", "elsewhere", "client"):
        ext = ["-extfile", name + ".ext"] if name in exts else []
        openssl(work, "req", *EC, "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=%s" % name)
        openssl(work, "x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", name + ".pem", "-days", "2", *ext)
    for name in ("ca", "other-ca", "server", "elsewhere", "client"):
        os.chmod(work.file(name + ".key"), 0o600)


class _Listener:
    """A loopback TCP listener whose accept loop runs in a thread; handle(conn) per connection."""

    def __init__(self, name):
        self.name = name
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        self.threads = []
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self.threads.append(t)

    def _accept(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            t = threading.Thread(target=self._safe_handle, args=(conn,), daemon=True)
            t.start()
            self.threads.append(t)

    def _safe_handle(self, conn):
        try:
            self.handle(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def stop(self):
        self.stopping = True
        self.sock.close()


class Relay(_Listener):
    """Forwards each connection to 127.0.0.1:target and records the first byte the client sent
    on it. first_bytes() lists them, one per connection, in order."""

    def __init__(self, target, name="relay"):
        self.target = target
        self.firsts = []
        super().__init__(name)

    def first_bytes(self):
        with self.lock:
            return list(self.firsts)

    def handle(self, conn):
        conn.settimeout(10)
        first = conn.recv(4096)
        with self.lock:
            self.firsts.append(first[0] if first else None)
        if not first:
            return
        up = socket.create_connection(("127.0.0.1", self.target), 5)
        try:
            up.sendall(first)
            back = threading.Thread(target=self._pump, args=(up, conn), daemon=True)
            back.start()
            self._pump(conn, up)
            back.join(10)
        finally:
            up.close()

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                data = src.recv(4096)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def assert_only_tls(relay, who):
    """Every connection the relay saw began with a TLS record: not one plaintext CONNECT."""
    firsts = relay.first_bytes()
    if any(b != TLS_RECORD for b in firsts):
        raise h.TestFailure("%s sent something other than a TLS ClientHello on a connection: first bytes %r "
                            "(0x10 is a plaintext MQTT CONNECT)" % (who, firsts))
    return len(firsts)


class TlsServer(_Listener):
    """A TLS server offering only the versions [lo, hi] (ssl.TLSVersion) with cert/key; it is
    not a broker: after a handshake it reads what the client sends first and hangs up.
    results() lists per connection (first byte, negotiated version or the handshake error, the
    first application bytes)."""

    def __init__(self, cert, key, lo, hi, name="tls-server"):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        # OpenSSL 3 needs security level 0 for TLS 1.1 (its handshake signs with SHA-1).
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = lo
        ctx.maximum_version = hi
        self.ctx = ctx
        self.seen = []
        super().__init__(name)

    def results(self):
        with self.lock:
            return list(self.seen)

    def handle(self, conn):
        conn.settimeout(10)
        head = conn.recv(1, socket.MSG_PEEK)
        entry = {"first": head[0] if head else None, "version": None, "error": None, "data": b""}
        try:
            tls = self.ctx.wrap_socket(conn, server_side=True)
            entry["version"] = tls.version()
            entry["data"] = tls.recv(4096)
            tls.close()
        except (ssl.SSLError, OSError) as e:
            entry["error"] = str(e)
        with self.lock:
            self.seen.append(entry)
