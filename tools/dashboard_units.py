#!/usr/bin/env python3
"""dashboard_units: writes dashboard/units.js, the unit of every point name the shipped profiles
give one (the MQTT readings carry values only). --check fails when the file is not current or
when two profiles give one point name two units."""

import glob
import json
import os
import sys

SRC = os.environ.get("CARETAKER_SOURCE_DIR", os.path.join(os.path.dirname(__file__), ".."))


def units():
    found, where = {}, {}
    for path in sorted(glob.glob(os.path.join(SRC, "drivers", "*", "*.json"))):
        with open(path, encoding="utf-8") as f:
            profile = json.load(f)
        rel = os.path.relpath(path, SRC)
        for point in profile.get("points", []):
            unit = point.get("unit")
            if not unit:
                continue
            name = point["name"]
            if name in found and found[name] != unit:
                sys.exit("%s: point %r has unit %r, %s gives it %r" % (rel, name, unit, where[name], found[name]))
            found[name], where[name] = unit, rel
    return found


def text():
    body = ",\n".join("  %s: %s" % (json.dumps(k), json.dumps(v)) for k, v in sorted(units().items()))
    return ("// units: the unit of each point name, from the profiles under drivers/ (written by\n"
            "// tools/dashboard_units.py; do not edit).\n"
            "\"use strict\";\n\nvar CaretakerUnits = {\n%s\n};\n" % body)


def main():
    out = os.path.join(SRC, "dashboard", "units.js")
    if sys.argv[1:] == ["--check"]:
        with open(out, encoding="utf-8") as f:
            if f.read() != text():
                sys.exit("dashboard/units.js is not current with drivers/: run tools/dashboard_units.py")
        print("PASS dashboard/units.js matches drivers/")
        return
    with open(out, "w", encoding="utf-8") as f:
        f.write(text())


main()
