#!/usr/bin/env python3
"""Lists airisk's public Rust API from rustdoc's HTML, one item per line, sorted.

    cargo doc --no-deps && python3 scripts/public-api.py > docs/public-api.txt

CI regenerates the list and diffs it with the committed docs/public-api.txt, so the
public surface changes only on purpose: when a change adds or removes public items,
regenerate the file and commit it with the change.

Items: every page rustdoc lists in all.html (structs, enums, traits, functions, constants,
type aliases, modules' items, at their public path), and on each page its fields,
variants, inherent methods, associated constants and the traits it implements (blanket
and auto-trait implementations are left out: they follow from the others).
"""
import html
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "target/doc/airisk"
items = set()
with open(os.path.join(root, "all.html"), encoding="utf-8") as f:
    index = f.read()
pages = sorted(set(re.findall(r'href="([a-z0-9_/]+/)?((?:struct|enum|trait|fn|constant|type|static|macro|union)\.[A-Za-z0-9_]+\.html)"', index)))
for prefix, page in pages:
    rel = (prefix or "") + page
    kind, name = page.split(".")[0], page.split(".")[1]
    path = "airisk::" + (prefix or "").replace("/", "::") + name
    items.add(f"{kind} {path}")
    if kind in ("fn", "constant", "type", "static", "macro"):
        continue
    with open(os.path.join(root, rel), encoding="utf-8") as f:
        text = f.read()
    # Drop blanket and auto-trait implementations.
    for section in ("blanket-implementations-list", "synthetic-implementations-list"):
        i = text.find(f'id="{section}"')
        if i >= 0:
            j = text.find('<h2', i)
            text = text[:i] + (text[j:] if j >= 0 else "")
    for k, n in re.findall(r'id="(structfield|variant|method|tymethod|associatedconstant|associatedtype)\.([A-Za-z0-9_]+)"', text):
        if k in ("method", "associatedtype"):
            continue
        items.add(f"{k} {path}::{n}")
    inherent = re.search(r'id="implementations-list"(.*?)(id="trait-implementations"|$)', text, re.S)
    if inherent:
        for n in re.findall(r'id="method\.([A-Za-z0-9_]+)"', inherent.group(1)):
            items.add(f"method {path}::{n}")
    for t in re.findall(r'id="impl-([A-Za-z0-9_%-]+)-for-', text):
        items.add(f"impl {html.unescape(t)} for {path}")
for line in sorted(items):
    print(line)
