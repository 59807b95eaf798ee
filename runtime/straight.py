"""Straight-line code for the engine's steps over rules: definitions, consistency checks, phase-1 and -2 rules.

The engine (hgl.runtime.engine) runs these steps as loops over per-rule tables, calling each
condition's plain-Python variant (the module's KNOWN table) and, when it reads a missing value,
the three-valued one.  On a batch that per-item overhead (a loop step, a tuple unpacked, a call)
is a large part of the cost, so after a few runs the engine asks for the same steps as one
function per step, made here: the same items in the same order, each plain variant's
expression written in place (taken from the module's own source, the KNOWN table the compiler
wrote) instead of called, the three-valued variants called as before (phase 1 keeps their
answers by the values they read: _Memo).  Each function does
exactly what the loop does, item by item (tests/test_explain_identity.py compares every output
byte with the loops'; tests/test_engine_shortcuts.py compares the engine with and without).

Nothing from a guideline becomes code here: the expressions are the compiler's output (its
literals written by repr), and every other name in the made code is an index of ours.  A
module without its source (a built module loaded from a .py file without __hgl_code__) or
whose KNOWN table is not a plain dict of lambdas gets no straight-line code: the loops run.
"""

from __future__ import annotations

import ast
import datetime
import threading

from .logic import ABSENT, Touched, Unknown

_Unknown = Unknown
_PLAIN_TYPES = frozenset({bool, int, str, type(None), datetime.date})


def known_lambdas(module) -> dict | None:
    """{function name: (the ast of its plain variant's lambda, its line in the source)}, or None."""
    code = getattr(module, "__hgl_code__", None)
    if not isinstance(code, str):
        return None
    start = code.find("\nKNOWN = {")
    end = code.find("\n}\n", start)
    if start < 0 or end < 0:
        return None
    try:
        tree = ast.parse(code[start + 1:end + 3])
    except SyntaxError:
        return None
    offset = code.count("\n", 0, start + 1)  # the lines before the table
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assign) or not isinstance(tree.body[0].value, ast.Dict):
        return None
    out = {}
    for k, v in zip(tree.body[0].value.keys, tree.body[0].value.values):
        if isinstance(k, ast.Constant) and type(k.value) is str and isinstance(v, ast.Lambda):
            args = v.args
            names = tuple(a.arg for a in args.args)
            if names in (("e",), ("e", "P")) and not (args.vararg or args.kwarg or args.kwonlyargs or args.defaults
                                                      or args.posonlyargs):
                out[k.value] = (v, v.lineno + offset)
    return out


# the names the made functions use themselves besides the plain variants' own `e` and `P` (an
# inlined expression naming one of them is called instead)
_OURS = frozenset({"env", "U", "v", "g", "out", "fired_rules", "fired", "undecided", "forced", "plain"})


class _Memo:
    """The three-valued variant of one condition, its answers kept by the values it reads.

    A condition's three-valued answer depends only on the values of the names it reads (the
    module's READS table, written by the compiler: inputs, definitions, parameters, `today`), so
    the answer for a case with the same values is the one already found.  Only
    answers that are truths (True, False, an Unknown: immutable) are kept, only for values
    whose equality is identity of meaning (bool, int, str, None, a date, a set of str, an
    Unknown by its inputs and bounds, a float other than zero and NaN, each with its type);
    anything else is evaluated every time.  Bounded: past LIMIT answers it starts again.
    """

    LIMIT = 4096

    def __init__(self, fn, names):
        self.fn, self.names, self.table = fn, names, {}

    def caller(self):
        fn, names, table, limit = self.fn, self.names, self.table, self.LIMIT
        plain_types = _PLAIN_TYPES

        def call(env, *args):
            key = []
            for n in names:
                v = env.get(n)
                t = type(v)
                if t in plain_types:
                    key.append((t, v))
                elif t is _Unknown:
                    if type(v.lo) is float or type(v.hi) is float:
                        return fn(env, *args)
                    key.append((v.inputs, v.lo, v.hi))
                elif t is float and v == v and v != 0.0:
                    key.append((t, v))
                elif t is frozenset and all([type(x) is str for x in v]):
                    key.append((t, v))
                else:
                    return fn(env, *args)
            key = tuple(key)
            got = table.get(key)
            if got is None:
                got = fn(env, *args)
                if got is True or got is False or type(got) is _Unknown:
                    if len(table) >= limit:
                        table.clear()
                    table[key] = got
            return got
        return call


class _Writer:
    """Lines of one generated function and the objects it names (bound as globals, by index)."""

    def __init__(self, module, lambdas, known, universe=None):
        self.ns = dict(vars(module))  # the plain variants' expressions read the module's globals
        self.ns.update({"_Touched": Touched, "_ABSENT": ABSENT, "_Unknown": Unknown})
        self.lambdas, self.known = lambdas, known
        reads = getattr(module, "READS", None)  # the compiler's table: what each compiled function reads
        self.reads = reads if isinstance(reads, dict) else {}
        self.universe = universe  # the names a case has (inputs, definitions, parameters, today); None: no memo
        self.filename = getattr(module, "__file__", None)  # where the module's compiled functions come from
        self.lines: list[str] = []
        self.n = 0

    def three(self, fn) -> str:
        """A global name for the three-valued variant fn, its answers kept (_Memo) when it reads known names."""
        names = self.reads.get(getattr(fn, "__name__", None)) if self.universe is not None else None
        if names is None:  # no kept answers without the compiler's table of what it reads
            return self.name(fn)
        return self.name(_Memo(fn, tuple(sorted(set(names) & self.universe))).caller())

    def name(self, obj) -> str:
        """A global name for obj in the made code (an index: nothing of the guideline)."""
        self.n += 1
        name = f"_o{self.n}"
        self.ns[name] = obj
        return name

    def put(self, indent: int, text: str) -> None:
        self.lines.append("    " * indent + text)

    def inline(self, opt) -> str | None:
        """The plain variant `opt` as an expression over `e` (and `P`), or None: call it."""
        for fname, fn in self.known.items():
            if fn is opt:
                lam, line = self.lambdas.get(fname, (None, None))
                code = getattr(opt, "__code__", None)
                # the function itself is the lambda at that line of this module's source (not one put in its place)
                if lam is None or code is None or code.co_firstlineno != line or code.co_filename != self.filename:
                    return None
                if any(isinstance(x, ast.Name) and (x.id in _OURS or x.id.startswith("_")) for x in ast.walk(lam.body)):
                    return None  # (a name of ours would hide the module's: called instead)
                return f"({ast.unparse(lam.body)})"
        return None

    def value(self, indent: int, target: str, opt, three, args3: str, args: str = "e, P") -> None:
        """`target = ` the condition's value: its plain variant on e (missing values ABSENT), else three(args3)."""
        expr = self.inline(opt)
        call3 = f"{self.three(three)}({args3})"
        self.put(indent, "try:")
        self.put(indent + 1, f"{target} = {expr if expr is not None else self.name(opt) + '(' + args + ')'}")
        self.put(indent, "except _Touched:")
        self.put(indent + 1, f"{target} = {call3}")
        self.put(indent, "else:")
        self.put(indent + 1, f"if {target} is _ABSENT:")
        self.put(indent + 2, f"{target} = {call3}")

    def make(self, fname: str, params: str):
        source = f"def {fname}({params}):\n" + "\n".join(self.lines) + "\n"
        exec(compile(source, f"<hgl straight {fname}>", "exec"), self.ns)  # noqa: S102 - see the docstring
        return self.ns[fname]


_MAKING = threading.Lock()  # held while an engine's code is made (ast.parse is not safe in threads on 3.11)


def made_for(engine):
    """The engine's straight-line functions, made once (engine._straight), or False: the loops run.

    Made under a lock, by one thread; a failure while making them is never a failed run."""
    with _MAKING:
        if engine._straight is None:
            try:
                made = straight(engine)
            except Exception:  # noqa: BLE001 - the loops give the same answers
                made = None
            engine._straight = made if made is not None else False
    return engine._straight


def straight(engine):
    """(prelude, phase1, phase2) for an engine with the optimistic shortcuts, or None.

    prelude(env, e, U) -> violated: the definitions into env and e (the case as plain code sees
    it), then the consistency checks a case with missing inputs U breaks for sure (Engine.derive,
    Engine._violated); phase1(env, e, U) -> (fired_rules, fired, undecided) (Engine._phase1); phase2:
    see _phase2.
    """
    module = engine.m
    lambdas = known_lambdas(module)
    if lambdas is None:
        return None
    known = getattr(module, "KNOWN", {})
    universe = frozenset(engine.input_order) | engine.def_names | \
        {p.name for p in getattr(module, "PARAMETERS", ())} | {"today"}
    w = _Writer(module, lambdas, known, universe)
    w.put(1, "P = None")
    for name, fn, plain, reads, opt in engine.defs:
        n = repr(name)
        if opt is not None:
            w.value(1, "v", opt, fn, "env", "e")
        else:
            w.put(1, f"v = {w.name(plain)}(e) if U.isdisjoint({w.name(reads)}) else {w.three(fn)}(env)")
        w.put(1, f"env[{n}] = v")
        w.put(1, f"e[{n}] = _ABSENT if type(v) is _Unknown else v")
    w.put(1, "out = []")
    for c, (test, plain, reads, opt) in zip(engine.constraints, engine.tests):
        if opt is not None:
            w.value(1, "v", opt, test, "env, None")
        else:
            w.put(1, f"v = {w.name(plain)}(env, None) if U.isdisjoint({w.name(reads)}) else {w.three(test)}(env, None)")
        w.put(1, f"if v is True: out.append({w.name(c)})")
    w.put(1, "return out")
    prelude = w.make("prelude", "env, e, U")

    w = _Writer(module, lambdas, known, universe)
    w.put(1, "P = None")
    w.put(1, "fired_rules = []")
    w.put(1, "fired = []")
    w.put(1, "undecided = []")
    for r, reads, when, plain_when, opt_when, guards in engine.p1:
        rule, rkey = w.name(r), w.name(("r", r.id))
        plain = f"(not U or U.isdisjoint({w.name(reads)}))"
        def fires(indent, r=r, rule=rule, plain=plain, guards=guards):
            w.put(indent, f"fired_rules.append({rule})")
            _guards(w, indent, [((r, i), ("b", r.id, i), *g) for i, *g in guards], plain, "env, None", forced=False)

        _rule(w, rkey, when, plain_when, opt_when, plain, "env, None", False, fires)
    w.put(1, "return fired_rules, fired, undecided")
    phase1 = w.make("phase1", "env, e, U")
    return prelude, phase1, _phase2(engine, module, lambdas, known)


def _phase2(engine, module, lambdas, known):
    """phase2(env, e, P, U, forced, plain, undecided) -> the branches that fire, in order (Engine._step_phase2;
    the engine collects their outcomes: a phase-2 rule cannot propose, so no condition reads what they add)."""
    w = _Writer(module, lambdas, known)  # no kept answers: these conditions read the proposal too
    w.put(1, "fired = []")
    for r, key, reads, when, plain_when, opt_when, guards in engine._p2:
        rkey = w.name(key)
        plain = f"(plain or (U is not None and U.isdisjoint({w.name(reads)})))"
        _rule(w, rkey, when, plain_when, opt_when, plain, "env, P", True,
              lambda indent, r=r, plain=plain, guards=guards: _guards(
                  w, indent, [((r, bkey[2]), bkey, *g) for bkey, *g in guards], plain, "env, P", forced=True))
    w.put(1, "return fired")
    return w.make("phase2", "env, e, P, U, forced, plain, undecided")


def _rule(w, rkey: str, when, plain_when, opt_when, plain: str, args: str, forced: bool, fires) -> None:
    """A rule's condition, then `fires(indent)` (what it gives when true) in its branch; an
    undecided condition is kept (both phases: the same shape, other tables)."""
    indent = 1
    if when is not None:
        _test(w, 1, "v", rkey, when, plain_when, opt_when, plain, args, forced=forced)
        w.put(1, "if v is True:")
        indent = 2
    fires(indent)
    if when is not None:
        w.put(1, "elif v is not False:")
        w.put(2, f"undecided.append(({rkey}, v))")


def _guards(w, indent: int, guards, plain: str, args: str, forced: bool) -> None:
    """The lines of a rule's branch guards, in order: (fired key, branch key, guard, plain, opt) each;
    `forced`: phase 2, where the completion search may force a branch (Engine._step_phase2)."""
    for fired_key, branch_key, guard, plain_guard, opt_guard in guards:
        fired = w.name(fired_key)
        if guard is None:
            w.put(indent, f"fired.append({fired})")
            continue
        bk = w.name(branch_key)
        _test(w, indent, "g", bk, guard, plain_guard, opt_guard, plain, args, forced)
        w.put(indent, "if g is True:")
        w.put(indent + 1, f"fired.append({fired})")
        w.put(indent, "elif g is not False:")
        w.put(indent + 1, f"undecided.append(({bk}, g))")


def _test(w, indent: int, target: str, key: str, fn, plain_fn, opt, plain: str, args: str, forced: bool) -> None:
    """`target = ` a condition's value: forced true by the completion search (phase 2: `key` in
    `forced`), else its plain variant when `plain` holds (written in place when it can be), else
    the three-valued one."""
    if forced:
        w.put(indent, f"if forced and {key} in forced:")
        w.put(indent + 1, f"{target} = True")
        w.put(indent, "else:")
        indent += 1
    if opt is not None:
        w.value(indent, target, opt, fn, args)
    else:
        w.put(indent, f"{target} = {w.name(plain_fn)}({args}) if {plain} else {w.three(fn)}({args})")
