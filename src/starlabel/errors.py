"""Errors that carry the file and the star they concern.

Every error a user can provoke with bad input is a ``StarlabelInputError`` (a
``ValueError``) whose message is one line naming the file, the star and the problem,
so that batch runs can log it, flag the star and go on with the others.
"""

from __future__ import annotations

from pathlib import Path

from ._typing import PathLike


class StarlabelInputError(ValueError):
    """Bad input: names the file and, where known, the star.

    Args:
        problem: what is wrong, in words a user can act on.
        path: the file the problem was found in.
        star: the star (spectrum id) concerned, if the problem is per star.
    """

    def __init__(
        self, problem: str, *, path: PathLike | None = None, star: str | None = None
    ) -> None:
        self.problem = " ".join(str(problem).split())
        self.path = None if path is None else Path(path)
        self.star = star
        super().__init__(self._line())

    def _line(self) -> str:
        where = []
        if self.path is not None:
            where.append(str(self.path))
        if self.star is not None:
            where.append(f"star {self.star}")
        return (": ".join(where) + ": " if where else "") + self.problem

    def with_context(
        self, *, path: PathLike | None = None, star: str | None = None
    ) -> StarlabelInputError:
        """The same problem with the file and star filled in where still unknown."""
        return StarlabelInputError(
            self.problem,
            path=self.path if self.path is not None else path,
            star=self.star if self.star is not None else star,
        )


class NotBuiltError(RuntimeError):
    """A command or feature that is planned but not built yet."""
