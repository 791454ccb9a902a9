"""The alert catalogue (docs/alerts.md) against the shipped profiles (drivers/): every profile
has its section; its rule table lists exactly the profile's rules, with their severity, kind
and expressions; its params table exactly the profile's params with their defaults and units.
Drift in either direction fails `make test`."""

import glob
import json
import os
import re
import sys

SRC = os.environ.get("CARETAKER_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))


def cells(line):
    """The cells of a Markdown table row; `\\|` inside code is part of a cell."""
    parts = re.split(r"(?<!\\)\|", line.strip())[1:-1]
    return [p.strip().replace("\\|", "|") for p in parts]


def sections(text):
    """driver -> (rule rows, param rows) of its `## \\`driver\\`` section."""
    out = {}
    for m in re.finditer(r"^## `([^`]+)`[^\n]*\n(.*?)(?=^## |\Z)", text, re.S | re.M):
        rules, params, table = [], [], None
        for line in m.group(2).splitlines():
            if line.startswith("| rule "):
                table = rules
            elif line.startswith("| param "):
                table = params
            elif not line.startswith("|"):
                table = None if line.strip() else table
            elif table is not None and not line.startswith("| ---"):
                table.append(cells(line))
        out[m.group(1)] = (rules, params)
    return out


def number(v):
    return float(v) if isinstance(v, (int, float)) else None


def check():
    errors = []
    doc = open(os.path.join(SRC, "docs", "alerts.md"), encoding="utf-8").read()
    secs = sections(doc)
    for path in sorted(glob.glob(os.path.join(SRC, "drivers", "*", "*.json"))):
        prof = json.load(open(path, encoding="utf-8"))
        name = prof["driver"]
        rules = prof.get("rules", [])
        if not rules:
            continue
        if name not in secs:
            errors.append("docs/alerts.md: no section for profile %s (%d rules)" % (name, len(rules)))
            continue
        rule_rows, param_rows = secs[name]
        where = "docs/alerts.md, %s" % name
        by_id = {}
        for row in rule_rows:
            m = re.match(r"`([a-z0-9_]+)`( \(event\))?$", row[0]) if row else None
            if not m or len(row) != 5:
                errors.append("%s: rule table row is not a rule: %s" % (where, " | ".join(row)))
                continue
            by_id[m.group(1)] = (bool(m.group(2)), row)
        for r in rules:
            got = by_id.pop(r["id"], None)
            if not got:
                errors.append("%s: rule %s is missing" % (where, r["id"]))
                continue
            event, row = got
            if row[2] != r["severity"]:
                errors.append("%s: rule %s: severity %s in the doc, %s in the profile" % (where, r["id"], row[2], r["severity"]))
            if event != (r.get("kind") == "event"):
                errors.append("%s: rule %s: marked %s in the doc, %s in the profile" % (where, r["id"], "an event" if event else "a condition", r.get("kind", "condition")))
            for key in ("when", "clear"):
                if key in r and ("`%s`: `%s`" % (key, r[key])) not in row[3]:
                    errors.append("%s: rule %s: its %s expression in the doc is not the profile's `%s`" % (where, r["id"], key, r[key]))
        for extra in by_id:
            errors.append("%s: rule %s is not in the profile" % (where, extra))
        docp = {}
        for row in param_rows:
            m = re.match(r"`([a-z0-9_]+)`$", row[0]) if row else None
            if not m or len(row) != 4:
                errors.append("%s: params table row is not a param: %s" % (where, " | ".join(row)))
                continue
            docp[m.group(1)] = row
        for pname, p in prof.get("params", {}).items():
            row = docp.pop(pname, None)
            if not row:
                errors.append("%s: param %s is missing" % (where, pname))
                continue
            try:
                same = float(row[1]) == number(p.get("default"))
            except ValueError:
                same = False
            if not same:
                errors.append("%s: param %s: default %s in the doc, %s in the profile" % (where, pname, row[1], p.get("default")))
            if row[2] != p.get("unit", ""):
                errors.append("%s: param %s: unit %r in the doc, %r in the profile" % (where, pname, row[2], p.get("unit", "")))
        for extra in docp:
            errors.append("%s: param %s is not in the profile" % (where, extra))
    return errors


# Unit symbols a Chinese text may carry (m³/h, m/s, mm); capitals are codes and acronyms
# (E30, CAN, VIP). Any other run of two or more lowercase letters is English mixed into Chinese.
ZH_UNITS = {"mm"}


def english_in(text):
    return [w for w in re.findall(r"[a-z]{2,}", text) if w not in ZH_UNITS]


def check_zh():
    """Every rule's message.zh, and the Chinese text of every code table it shows, has no
    English words: a Chinese reader gets Chinese only (the English is in message.en)."""
    errors = []
    for path in sorted(glob.glob(os.path.join(SRC, "drivers", "*", "*.json"))):
        with open(path, encoding="utf-8") as f:
            prof = json.load(f)
        name = prof["driver"]
        codes = prof.get("codes", {})
        for r in prof.get("rules", []):
            zh = r["message"]["zh"]
            words = english_in(re.sub(r"\{[^}]*\}", "", zh))
            if words:
                errors.append("%s: rule %s: message.zh %r has English %s" % (name, r["id"], zh, words))
            for table in re.findall(r"\{([a-z0-9_]+)\.text\}", zh):
                for code, text in codes.get(table, {}).items():
                    text = text["zh"] if isinstance(text, dict) else text
                    if english_in(text):
                        errors.append("%s: rule %s shows codes.%s in message.zh, whose %s is %r: English in it "
                                      "(write {\"zh\": ..., \"en\": ...})" % (name, r["id"], table, code, text))
    return errors


if __name__ == "__main__":
    errs = check() + check_zh()
    for e in errs:
        print(e)
    print("%s check_alerts_doc.py: %d difference(s)" % ("FAIL" if errs else "PASS", len(errs)))
    sys.exit(1 if errs else 0)
