#!/usr/bin/env python3
"""Generates server/src/commands/meta.rs from a running redis-server 7.0.

The command metadata Strata reports (COMMAND INFO, COMMAND DOCS, key specs for
COMMAND GETKEYS) is taken from the reference server itself, so it matches it
field for field. Usage:

    tools/gen-command-meta.py [--port PORT] [--out server/src/commands/meta.rs]

Without --port the script starts a private redis-server on a free port and
stops it when done. It speaks RESP3 (HELLO 3) so maps and sets are told apart
from arrays, and it checks that every map's keys come in the fixed order the
Rust encoder uses; an unexpected field stops the script instead of being lost.
"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time

# ---------------------------------------------------------------- RESP3 client


class Resp:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.buf = b""

    def call(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return self.read()

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def read(self):
        line = self.line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return ("status", rest.decode())
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind in (b"$", b"="):
            n = int(rest)
            return None if n < 0 else self.exact(n).decode()
        if kind in (b"*", b"~", b">"):
            n = int(rest)
            items = [self.read() for _ in range(n)]
            return ("set", items) if kind == b"~" else items
        if kind == b"%":
            n = int(rest)
            pairs = []
            for _ in range(n):
                k = self.read()
                pairs.append((k, self.read()))
            return ("map", pairs)
        if kind == b"_":
            return None
        raise RuntimeError("unexpected RESP type %r" % kind)


def as_set(v):
    assert isinstance(v, tuple) and v[0] == "set", v
    return v[1]


def status_list(v):
    return [x[1] if isinstance(x, tuple) else x for x in as_set(v)]


def as_map(v, order, what):
    """A map's pairs as a dict, checking the keys come in `order`."""
    assert isinstance(v, tuple) and v[0] == "map", (what, v)
    keys = [k for k, _ in v[1]]
    unknown = [k for k in keys if k not in order]
    if unknown:
        sys.exit("%s: unexpected fields %s" % (what, unknown))
    positions = [order.index(k) for k in keys]
    if positions != sorted(positions):
        sys.exit("%s: fields out of the expected order: %s" % (what, keys))
    return dict(v[1])


# ------------------------------------------------------------- Rust emission

DOC_ORDER = ["summary", "since", "group", "complexity", "module", "doc_flags", "deprecated_since",
             "replaced_by", "history", "arguments", "subcommands"]
ARG_ORDER = ["name", "type", "display_text", "key_spec_index", "token", "summary", "since",
             "deprecated_since", "flags", "value", "arguments"]
KEYSPEC_ORDER = ["notes", "flags", "begin_search", "find_keys"]


def rs(s):
    """A Rust string literal."""
    out = '"'
    for ch in s:
        if ch == '"':
            out += '\\"'
        elif ch == "\\":
            out += "\\\\"
        elif ch == "\n":
            out += "\\n"
        elif ch == "\r":
            out += "\\r"
        elif ord(ch) < 32:
            out += "\\u{%x}" % ord(ch)
        else:
            out += ch
    return out + '"'


def opt(s):
    return "None" if s is None else "Some(%s)" % rs(s)


def strs(items):
    return "&[" + ", ".join(rs(x) for x in items) + "]"


def emit_begin_search(v):
    m = as_map(v, ["type", "spec"], "begin_search")
    spec = as_map(m["spec"], ["index", "keyword", "startfrom"], "begin_search.spec")
    t = m["type"]
    if t == "index":
        return "BeginSearch::Index(%d)" % spec["index"]
    if t == "keyword":
        return "BeginSearch::Keyword { keyword: %s, startfrom: %d }" % (rs(spec["keyword"]), spec["startfrom"])
    if t == "unknown":
        return "BeginSearch::Unknown"
    sys.exit("unknown begin_search type %s" % t)


def emit_find_keys(v):
    m = as_map(v, ["type", "spec"], "find_keys")
    spec = as_map(m["spec"], ["lastkey", "keynumidx", "firstkey", "keystep", "limit"], "find_keys.spec")
    t = m["type"]
    if t == "range":
        return "FindKeys::Range { lastkey: %d, keystep: %d, limit: %d }" % (spec["lastkey"], spec["keystep"], spec["limit"])
    if t == "keynum":
        return "FindKeys::Keynum { keynumidx: %d, firstkey: %d, keystep: %d }" % (spec["keynumidx"], spec["firstkey"], spec["keystep"])
    if t == "unknown":
        return "FindKeys::Unknown"
    sys.exit("unknown find_keys type %s" % t)


def emit_key_spec(v):
    m = as_map(v, KEYSPEC_ORDER, "key spec")
    return "KeySpec { notes: %s, flags: %s, begin_search: %s, find_keys: %s }" % (
        opt(m.get("notes")), strs(status_list(m["flags"])), emit_begin_search(m["begin_search"]), emit_find_keys(m["find_keys"]))


def emit_arg(v, indent):
    m = as_map(v, ARG_ORDER, "argument")
    if "value" in m:
        sys.exit("argument field 'value' is not supported by the encoder")
    sub = m.get("arguments") or []
    pad = " " * indent
    inner = "".join("%s    %s,\n" % (pad, emit_arg(a, indent + 4)) for a in sub)
    args = "&[]" if not sub else "&[\n%s%s]" % (inner, pad)
    return ("Arg { name: %s, kind: %s, display_text: %s, key_spec_index: %d, token: %s, summary: %s, since: %s, "
            "deprecated_since: %s, flags: %s, arguments: %s }") % (
        rs(m["name"]), rs(m["type"]), opt(m.get("display_text")), m.get("key_spec_index", -1), opt(m.get("token")),
        opt(m.get("summary")), opt(m.get("since")), opt(m.get("deprecated_since")),
        strs(status_list(m["flags"])) if "flags" in m else "&[]", args)


def emit_doc(v):
    m = as_map(v, DOC_ORDER, "docs")
    if "module" in m:
        sys.exit("module commands are not expected in the reference server")
    history = []
    for h in as_set(m["history"]) if "history" in m else []:
        history.append("(%s, %s)" % (rs(h[0]), rs(h[1])))
    args = m.get("arguments") or []
    arg_src = "&[]" if not args else "&[\n" + "".join("            %s,\n" % emit_arg(a, 12) for a in args) + "        ]"
    return ("Doc {\n        summary: %s,\n        since: %s,\n        group: %s,\n        complexity: %s,\n"
            "        doc_flags: %s,\n        deprecated_since: %s,\n        replaced_by: %s,\n        history: &[%s],\n"
            "        arguments: %s,\n    }") % (
        rs(m["summary"]), rs(m["since"]), rs(m["group"]), opt(m.get("complexity")),
        strs(status_list(m["doc_flags"])) if "doc_flags" in m else "&[]", opt(m.get("deprecated_since")),
        opt(m.get("replaced_by")), ", ".join(history), arg_src), m


def emit_command(info, docs_by_name, out, path):
    """Appends one `pub static` item per command; returns its Rust name."""
    (name, arity, flags, first, last, step, acl, tips, key_specs, subs) = info
    doc_src, doc_map = emit_doc(docs_by_name[name])
    sub_docs = {}
    if "subcommands" in doc_map:
        for k, v in doc_map["subcommands"][1]:
            sub_docs[k] = v
    if isinstance(subs, tuple):
        subs = as_set(subs)
    sub_names = []
    for s in sorted(subs, key=lambda s: s[0]):
        sub_names.append(emit_command(s, sub_docs, out, path))
    ident = "CMD_" + name.upper().replace("|", "_").replace("-", "_")
    specs = "".join("        %s,\n" % emit_key_spec(k) for k in as_set(key_specs))
    out.append(
        ("pub static %s: CommandMeta = CommandMeta {\n    name: %s,\n    arity: %d,\n    flags: %s,\n"
         "    first_key: %d,\n    last_key: %d,\n    key_step: %d,\n    acl_categories: %s,\n    tips: %s,\n"
         "    key_specs: &[%s],\n    subcommands: &[%s],\n    doc: %s,\n};\n") % (
            ident, rs(name), arity, strs(status_list(flags)), first, last, step, strs(status_list(acl)),
            strs(status_list(tips)), ("\n" + specs + "    ") if specs else "", ", ".join("&" + s for s in sub_names),
            doc_src))
    return ident


HEADER = """//! Command metadata of Redis 7.0.15, generated by `tools/gen-command-meta.py`
//! from the reference server's COMMAND and COMMAND DOCS replies. Do not edit by
//! hand: rerun the script. COMMAND INFO/DOCS/GETKEYS are answered from these
//! tables, for the commands Strata implements.

#![allow(clippy::all)]

use super::meta_types::*;

"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "server", "src", "commands", "meta.rs"))
    opts = ap.parse_args()
    proc = None
    port = opts.port
    if port is None:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        tmp = tempfile.mkdtemp()
        proc = subprocess.Popen(["redis-server", "--port", str(port), "--save", "", "--appendonly", "no",
                                 "--dir", tmp, "--bind", "127.0.0.1"], stdout=subprocess.DEVNULL)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                break
            except OSError:
                time.sleep(0.05)
    try:
        r = Resp(port)
        r.call("HELLO", "3")
        version = dict(r.call("INFO", "server").split("\r\n")[i].split(":", 1) for i in [1])
        infos = r.call("COMMAND")
        docs = dict(r.call("COMMAND", "DOCS")[1])
    finally:
        if proc:
            proc.terminate()
            proc.wait()
    out = []
    names = []
    for info in sorted(infos, key=lambda i: i[0]):
        names.append(emit_command(info, docs, out, []))
    body = HEADER
    body += "// Generated from redis_version %s.\n\n" % version.get("redis_version", "?")
    body += "".join(out)
    body += "\n/// Every top-level command, sorted by name.\npub static COMMANDS: &[&CommandMeta] = &[\n"
    body += "".join("    &%s,\n" % n for n in names)
    body += "];\n"
    with open(opts.out, "w") as f:
        f.write(body)
    print("wrote %d commands to %s" % (len(names), opts.out))


if __name__ == "__main__":
    main()
