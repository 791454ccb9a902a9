"""The config keys the parser accepts (the `*_keys[]` tables of gateway/config.c) against the
key tables of docs/config.md and docs/mqtt.md: a key the code takes and no table names, or a
table row naming a key the code refuses, fails `make test`."""

import glob
import os
import re
import sys

SRC = os.environ.get("CARETAKER_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))

# Which document's tables own the keys of each section table in config.c, and how a row names
# them: with the section's path ("store.commit_ms") or bare ("timeout_ms" in the Buses table).
OWNERS = {
    "root": ("config.md", ""), "site": ("config.md", "site."), "gateway": ("config.md", "gateway."),
    "store": ("config.md", "store."), "alerts": ("alerts.md", ""), "contract": ("config.md", ""),
    "mqtt": ("config.md", "mqtt."), "tls": ("config.md", "mqtt.tls."), "severity": (None, None),
    "bus_common": ("config.md", ""), "bus_rtu": ("config.md", ""), "bus_tcp": ("config.md", ""),
    "bus_dtu": ("config.md", ""), "device": ("config.md", ""),
    "commands": ("config.md", "commands."), "commander": ("config.md", ""), "asset": ("config.md", "asset."),
    "due": ("contracts.md", ""), "party": ("contracts.md", ""),
}


def config_sources():
    """gateway/config.c and the parsers of its sections (config_*.c)."""
    return "\n".join(open(p, encoding="utf-8").read()
                     for p in sorted(glob.glob(os.path.join(SRC, "gateway", "config*.c"))))


def code_tables():
    text = config_sources()
    out = {}
    for m in re.finditer(r"static const char \*const (\w+)_keys\[\] = \{(.*?)\};", text, re.S):
        out[m.group(1)] = re.findall(r'"([^"]+)"', m.group(2))
    return out


def documented(doc):
    """Every `name` or `a.b` that opens a table row's first cell, split at commas."""
    names = set()
    for line in open(os.path.join(SRC, "docs", doc), encoding="utf-8"):
        if not line.startswith("| `"):
            continue
        first = line.split("|")[1]
        for n in re.findall(r"`([^`]+)`", first):
            n = n.replace("[]", "")
            names.add(n)
            if n.startswith("…"):  # a member of named entries: "…<identity>.role"
                names.add(n.rsplit(".", 1)[-1])
    return names


# The int_field tables: {"key", min, max, default, offsetof(struct X, ...)}; the row of each key
# must give its range as min..max and its default.
STRUCT_DOCS = {"store_config": ("config.md", "store."), "mqtt_config": ("config.md", "mqtt."),
               "alerts_config": ("alerts.md", ""), "bus_config": ("config.md", "")}


def defines():
    """Numeric #defines of gateway/*.h, for table entries that name one."""
    out = {}
    for path in glob.glob(os.path.join(SRC, "gateway", "*.h")):
        for name, value in re.findall(r"^#define (\w+) (-?\d+)\s*$", open(path, encoding="utf-8").read(), re.M):
            out[name] = value
    return out


def int_fields():
    text = config_sources()
    names = defines()
    fields = re.findall(r'\{"(\w+)",\s*(-?\w+),\s*(-?\w+),\s*(-?\w+),\s*offsetof\(struct (\w+),', text)
    return [tuple(names.get(v, v) for v in f[:4]) + (f[4],) for f in fields]


def rows(doc):
    """First-cell names -> the row's other cells."""
    out = {}
    for line in open(os.path.join(SRC, "docs", doc), encoding="utf-8"):
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip().split("|")[1:-1]]
            for n in re.findall(r"`([a-z0-9_.]+)`", cells[0]):
                out.setdefault(n, cells[1:])
    return out


def check_ranges():
    errors = []
    for key, lo, hi, default, struct in int_fields():
        doc, prefix = STRUCT_DOCS.get(struct, (None, None))
        if doc is None:
            errors.append("gateway/config.c: int field %s of struct %s has no documented owner" % (key, struct))
            continue
        r = rows(doc)
        row = r.get(prefix + key, r.get(key))
        if row is None:
            continue  # reported by check() as a missing key
        text = " ".join(row)
        if not re.search(r"(^|\D)%s(\.\.|–)%s(\D|$)" % (lo, hi), text):
            errors.append("docs/%s: %s%s: the range %s..%s the code takes is not in its row" % (doc, prefix, key, lo, hi))
        if not re.search(r"(^|[^\d.])%s([^\d.]|$)" % default, text):
            errors.append("docs/%s: %s%s: the default %s the code takes is not in its row" % (doc, prefix, key, default))
    return errors


def check():
    errors = []
    tables = code_tables()
    for table, keys in sorted(tables.items()):
        if table not in OWNERS:
            errors.append("gateway/config.c: key table %s_keys has no documented owner in tests/docs/check_config_doc.py" % table)
            continue
        doc, prefix = OWNERS[table]
        if doc is None:
            continue
        names = documented(doc)
        for k in keys:
            if table == "root" and any(n.startswith(k + ".") for n in names):
                continue
            if prefix + k not in names and k not in names:
                errors.append("docs/%s: no table row for the config key %s%s (gateway/config.c %s_keys)" % (doc, prefix, k, table))
    return errors


if __name__ == "__main__":
    errs = check() + check_ranges()
    for e in errs:
        print(e)
    print("%s check_config_doc.py: %d difference(s)" % ("FAIL" if errs else "PASS", len(errs)))
    sys.exit(1 if errs else 0)
