"""Layout of generated Python: small documents (calls, chains, literals) printed within 120 columns.

A document prints on one line when it fits, else it breaks at its own level with its parts
indented by four, the way a person formats a long call; literals go through `repr`, and a
long string is split into adjacent string literals.
"""

from __future__ import annotations

WIDTH = 120
INDENT = 4


class Call:
    """`fn(arg, ...)`; an argument may be a `Kw`."""

    __slots__ = ("fn", "args", "text")

    def __init__(self, fn: str, args):
        self.fn, self.args, self.text = fn, list(args), None


class Kw:
    """`name=value` inside a call."""

    __slots__ = ("name", "value", "text")

    def __init__(self, name: str, value):
        self.name, self.value, self.text = name, value, None


class Chain:
    """Parenthesised parts joined by operators: `(a and b)`; parts are (operator, doc), the first operator ''."""

    __slots__ = ("parts", "text")

    def __init__(self, parts):
        self.parts, self.text = list(parts), None


class Lam:
    """`lambda args: body`."""

    __slots__ = ("head", "body", "text")

    def __init__(self, args: str, body):
        self.head, self.body, self.text = f"lambda {args}: ", body, None


class Seq:
    """A tuple, set or dict display: `(a, b)`, `{a: b}`; items are docs, or Pairs in a dict."""

    __slots__ = ("open", "close", "items", "text")

    def __init__(self, open_: str, close: str, items):
        self.open, self.close, self.items, self.text = open_, close, list(items), None


class Pair:
    """`key: value` in a dict display."""

    __slots__ = ("key", "value", "text")

    def __init__(self, key, value):
        self.key, self.value, self.text = key, value, None


class Lit:
    """A Python value written with `repr` (long strings split into adjacent literals)."""

    __slots__ = ("value", "text")

    def __init__(self, value):
        self.value, self.text = value, None


def tuple_of(items) -> Seq:
    items = list(items)
    return Seq("(", ",)" if len(items) == 1 else ")", items)


def dict_of(pairs) -> Seq:
    return Seq("{", "}", [Pair(k, v) for k, v in pairs])


def flat(d) -> str:
    """The document on one line (computed once per document: layout asks for it at every level)."""
    if type(d) is str:
        return d
    text = d.text
    if text is None:
        text = d.text = _flat(d)
    return text


_FLAT = {  # each document type on one line
    Lit: lambda d: repr(d.value),
    Call: lambda d: d.fn + "(" + ", ".join([flat(a) for a in d.args]) + ")",
    Kw: lambda d: d.name + "=" + flat(d.value),
    Chain: lambda d: "(" + "".join([op + flat(x) for op, x in d.parts]) + ")",
    Lam: lambda d: d.head + flat(d.body),
    Pair: lambda d: flat(d.key) + ": " + flat(d.value),
    Seq: lambda d: d.open + ", ".join([flat(x) for x in d.items]) + d.close,
}


def _flat(d) -> str:
    return _FLAT[type(d)](d)


def render(d, indent: int = 0, used: int | None = None) -> str:
    """The document at `indent`, starting `used` columns into the line (default: at the indent)."""
    used = indent if used is None else used
    text = flat(d)
    if used + len(text) < WIDTH or isinstance(d, str):  # one column kept for a trailing comma
        return text
    inner = indent + INDENT
    pad = " " * inner
    end = "\n" + " " * indent
    if isinstance(d, Lit):
        if isinstance(d.value, str) and len(d.value) > 20:
            return "(" + "".join("\n" + pad + repr(x) for x in _chunks(d.value, WIDTH - inner - 3)) + end + ")"
        if isinstance(d.value, tuple):
            return render(tuple_of(Lit(x) for x in d.value), indent, used)
        return text
    if isinstance(d, Kw):
        return d.name + "=" + render(d.value, indent, used + len(d.name) + 1)
    if isinstance(d, Lam):
        return d.head + render(d.body, indent, used + len(d.head))
    if isinstance(d, Pair):
        key = render(d.key, indent, used)
        return key + ": " + render(d.value, indent, used + len(key) + 2)
    if isinstance(d, Call):
        return d.fn + "(\n" + _fill(d.args, inner) + end + ")"
    if isinstance(d, Chain):
        lines = []
        for op, x in d.parts:
            op = op.lstrip()
            lines.append(pad + op + render(x, inner, inner + len(op)))
        return "(\n" + "\n".join(lines) + end + ")"
    return d.open + "\n" + _fill(d.items, inner) + end + d.close.lstrip(",")


def _fill(items, indent: int) -> str:
    """Items with a comma after each: short atoms as many on a line as fit; a call or display on a line of its own
    (several lines when it does not fit flat)."""
    pad = " " * indent
    lines: list[str] = []
    line = ""
    packed = False  # whether the line so far holds only short atoms (a call or display gets a line of its own)
    for x in items:
        text = flat(x) + ","
        if line and len(pad) + len(line) + 1 + len(text) <= WIDTH and packed and isinstance(x, (str, Lit, Kw)):
            line += " " + text
            continue
        if line:
            lines.append(pad + line)
        if len(pad) + len(text) <= WIDTH:
            line = text
            packed = isinstance(x, (str, Lit, Kw))
        else:
            lines.append(pad + render(x, indent) + ",")
            line = ""
    if line:
        lines.append(pad + line)
    return "\n".join(lines)


def _chunks(text: str, size: int) -> list[str]:
    """Split text into pieces of at most about `size` characters, after spaces where possible."""
    size = max(size, 20)  # deep in a document the room left can be nothing: never loop on it
    out = []
    while len(text) > size:
        cut = text.rfind(" ", 0, size)
        cut = size if cut <= 0 else cut + 1
        out.append(text[:cut])
        text = text[cut:]
    out.append(text)
    return out
