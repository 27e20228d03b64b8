"""Which parameters does VTube Studio refuse? Found by splitting the refused set in halves.

VTS refuses a whole ``InjectParameterDataRequest`` when one of its parameters does not exist
(error 453) or is "set" by another plugin (454), and its error payload holds only ``errorID``
and a message whose text the API does not specify: nothing says which parameter it was. So the
refused set is split in two, each half injected alone, and only a half that is refused again is
split further (binary splitting, a form of adaptive group testing). k refused parameters among
n take at most 2 * k * ceil(log2(n)) requests and never more than 2n - 2: for one of the
avatar's 13 parameters 5 to 7, for two 5 to 12 (9.6 on average), where asking one by one
takes 13. Each request is an ordinary injection of the latest values.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

__all__ = ["Attempt", "find_refused"]

Attempt = Callable[[Sequence[str]], Awaitable[int | None]]
"""Inject just these parameters: the error id VTS refused them with, or None when accepted."""


async def find_refused(names: Sequence[str], attempt: Attempt, *,
                       known_refused: bool = True) -> dict[str, int]:
    """The parameters of ``names`` that VTS refuses, each with the error id it gave.

    Parameters
    ----------
    names:
        The parameters of a refused injection.
    attempt:
        Injects a subset alone; exceptions (a lost connection) propagate.
    known_refused:
        VTS just refused ``names`` together (the injection that started the search), so they
        are not sent together again; False to check a set that may be accepted now.
    """
    if not names:
        return {}
    if not known_refused or len(names) == 1:
        # a lone parameter is always asked: its own answer tells missing from contested
        error = await attempt(names)
        if error is None:
            return {}
        if len(names) == 1:
            return {names[0]: error}
    half = len(names) // 2
    found = await find_refused(names[:half], attempt, known_refused=False)
    # the whole was refused: if the first half is clean, the fault is in the second
    found |= await find_refused(names[half:], attempt, known_refused=not found)
    return found
