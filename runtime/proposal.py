"""What a phase-2 condition sees of the proposal: the proposed options, each as a view (its drugs
and the ids it answers to).  Made by the engine's combination (hgl.runtime.engine), read by the
compiled conditions (`P.has`, `P.any`) and by the words of `any … option` tests."""

from __future__ import annotations


class OptionView:
    """What a filter sees of a proposed option: its drugs and the ids it answers to."""

    __slots__ = ("id", "drugs", "ids")

    def __init__(self, option, env, options=None):
        self.id = option.id
        if option.stands_for is None:
            self.drugs = option.drugs
            self.ids = frozenset((option.id,))
        else:
            target = env.get(option.stands_for)
            self.drugs = _drugs_of(target, env["__options__"] if options is None else options)
            self.ids = frozenset((option.id, target)) if isinstance(target, str) else frozenset((option.id,))


def _drugs_of(value, options):
    opt = options.get(value) if isinstance(value, str) else None
    return opt.drugs if opt is not None else frozenset()


class Proposal:
    """The options proposed after governing (step 2), as phase-2 conditions see them.

    "Proposed" means given a role that is not negative: an option only advised against (a
    stand-alone `propose x as avoid`) is not proposed.
    """

    __slots__ = ("roles", "views", "negative")

    def __init__(self, roles: dict, views: dict, negative=frozenset(("avoid",))):
        self.roles = roles
        self.views = views
        self.negative = negative

    def has(self, option: str, role: str) -> bool:
        r = self.roles.get(option)
        return r is not None and (r == role or (role == "proposed" and r not in self.negative))

    def any(self, role: str, test):
        result = False
        negative = self.negative
        for opt, r in self.roles.items():
            if r != role and (role != "proposed" or r in negative):
                continue
            v = test(self.views[opt])
            if v is True:
                return True
            if v is not False:
                result = v if result is False else result | v
        return result
