"""How a failure a user can fix reaches the Dagster UI: one ``Failure`` line, no traceback.

A wrong password, an unknown customer code, a refused token or an unusable DuckDB path is
the operator's to fix, so the run's failure says what failed and which variable (or account
setting) to change, and how; which variable a Haier refusal points at is decided once, in
:func:`haier_pipeline.haier.errors.remedy`. Anything else keeps its cause for diagnosis.
"""

import contextlib
from collections.abc import Iterator

from dagster import Failure

from haier_pipeline.haier.budget import BudgetUnavailable
from haier_pipeline.haier.errors import HaierError, remedy, short_reason
from haier_pipeline.storage.warehouse import StorageError


def describe(what: str, error: BaseException) -> str:
    """``what`` failed, why, and for a refusal that needs a person, what to change."""
    fix = remedy(error)
    if fix is None:
        return f"{what}: {error}"
    return f"{what}: Haier refused the call ({short_reason(error)}); {fix.text()}."


def failure(what: str, error: BaseException) -> Failure:
    """The Failure to raise ``from None`` for an error a user can fix, else ``from error``."""
    return Failure(description=describe(what, error), allow_retries=remedy(error) is None)


@contextlib.contextmanager
def user_errors(what: str) -> Iterator[None]:
    """Errors of Haier, of the DuckDB files or of the call budget become a Failure of one
    line; bugs stay bugs."""
    try:
        yield
    except (StorageError, BudgetUnavailable) as error:
        raise Failure(description=f"{what}: {error}", allow_retries=False) from None
    except HaierError as error:
        raise failure(what, error) from (None if remedy(error) else error)
