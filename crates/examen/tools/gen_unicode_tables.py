"""Generate crates/examen/src/text/unicode_tables.rs from Python's unicodedata.

Inspect normalises model output with Python's `str.casefold`, `str.isspace`
and `unicodedata.{decimal,digit,numeric}`. examen mirrors those with these
tables so that the same text scores the same way. Regenerate with the
Python that runs Inspect (its Unicode version is recorded in the output):

    .venv/bin/python crates/examen/tools/gen_unicode_tables.py \
        > crates/examen/src/text/unicode_tables.rs
"""

import sys
import unicodedata


def rust_str(s: str) -> str:
    return '"' + "".join(f"\\u{{{ord(c):x}}}" for c in s) + '"'


def rust_f64(v: float) -> str:
    text = repr(float(v))
    return text if ("." in text or "e" in text) else text + ".0"


out = []
out.append("//! Unicode tables generated from Python's `unicodedata` "
           f"(Unicode {unicodedata.unidata_version}) by `tools/gen_unicode_tables.py`.")
out.append("//!")
out.append("//! Do not edit by hand: regenerate with the script so that text rules keep")
out.append("//! matching Inspect's Python behaviour.")
out.append("")
out.append("/// `(code point, decimal, digit, numeric)`: `decimal`/`digit` are -1 when absent.")
out.append("#[rustfmt::skip]")
out.append("pub(crate) static NUMERIC: &[(u32, i8, i8, f64)] = &[")
for cp in range(sys.maxunicode + 1):
    ch = chr(cp)
    numeric = unicodedata.numeric(ch, None)
    if numeric is None:
        continue
    decimal = unicodedata.decimal(ch, -1)
    digit = unicodedata.digit(ch, -1)
    out.append(f"    (0x{cp:x}, {decimal}, {digit}, {rust_f64(numeric)}),")
out.append("];")
out.append("")
out.append("/// Characters for which Python's `str.isspace` is true.")
out.append("#[rustfmt::skip]")
out.append("pub(crate) static PY_SPACE: &[u32] = &[")
for cp in range(sys.maxunicode + 1):
    if chr(cp).isspace():
        out.append(f"    0x{cp:x},")
out.append("];")
out.append("")
out.append("/// Characters whose `str.casefold` differs from their per-character `str.lower`.")
out.append("#[rustfmt::skip]")
out.append("pub(crate) static CASEFOLD: &[(u32, &str)] = &[")
for cp in range(sys.maxunicode + 1):
    ch = chr(cp)
    if ch.casefold() != ch.lower():
        out.append(f"    (0x{cp:x}, {rust_str(ch.casefold())}),")
out.append("];")
print("\n".join(out))
