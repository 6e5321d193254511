#!/usr/bin/env python3
"""check_layering.py PART ALLOWED FILES STAMP ROOT (lists separated by ';'), run by the build (cmake/parts.cmake).
Fails when a file of PART includes "psmflow/<part>/..." of a part outside ALLOWED."""
import re
import sys

part, allowed, files, stamp, root = sys.argv[1], sys.argv[2].split(";"), sys.argv[3].split(";"), sys.argv[4], sys.argv[5]
include = re.compile(r'^\s*#\s*include\s*"psmflow/([a-z_]+)/')
bad = []
for name in filter(None, files):
    with open(name, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            m = include.match(line)
            if m and m.group(1) not in allowed:
                bad.append(f"  {name[len(root) + 1:]}:{n}: includes part '{m.group(1)}'")
if bad:
    others = ", ".join(p for p in allowed if p != part) or "none"
    sys.exit(f"layering: part '{part}' may include only its own headers and those of: {others}\n" + "\n".join(bad) +
             "\nMove the code to the part it belongs to, or declare the need in src/CMakeLists.txt if the lower part"
             " really depends on the other (a need may only point down).")
open(stamp, "w").write("ok\n")
