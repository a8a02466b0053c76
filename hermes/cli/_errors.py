"""The command line's errors and exit codes.

Exit codes scripts can rely on:

- ``0``: success.
- ``2``: the command line, the config or a file it names is wrong (click's usage-error code):
  an unknown key or subcommand, a value of the wrong type, a missing or unreadable input file, a
  ``cache_dir`` holding another evaluation, or an argument hermes refused.
- ``1``: the run started and failed (a damaged file found mid-run, out of memory, a diverged
  training, ...), or was interrupted.

Example:
    >>> ConfigError("unknown key 'seeed'").exit_code, RunError("out of memory").exit_code
    (2, 1)
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import click

from hermes.errors import CacheError

__all__ = ["EXIT_CONFIG", "EXIT_RUN", "ConfigError", "RunError", "library_errors", "suggest"]

EXIT_RUN = 1
EXIT_CONFIG = 2


class ConfigError(click.ClickException):
    """The config, the command line or an input file is wrong; exit code 2."""

    exit_code = EXIT_CONFIG


class RunError(click.ClickException):
    """The run failed after it started; exit code 1."""

    exit_code = EXIT_RUN


def suggest(word: str, choices: Iterable[str], where: str = "") -> str:
    """``"; did you mean 'x'?"`` for the closest of ``choices``, or ``""`` when none is close.

    ``where`` (a table's dotted key) is put in front of the suggestion.

    Example:
        >>> suggest("lp_epoch", ["lp_epochs", "ft_epochs", "seed"])
        "; did you mean 'lp_epochs'?"
        >>> suggest("eot_sample", ["eot_samples"], where="adaptive")
        "; did you mean 'adaptive.eot_samples'?"
        >>> suggest("zzz", ["seed"])
        ''
    """
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    if not close:
        return ""
    return f"; did you mean {(f'{where}.{close[0]}' if where else close[0])!r}?"


def _debug() -> bool:
    context = click.get_current_context(silent=True)
    return bool(context is not None and (context.find_root().obj or {}).get("debug"))


@contextmanager
def library_errors(where: str, *, setup: bool = False) -> Iterator[None]:
    """Turn exceptions raised by hermes inside the block into clean command-line errors.

    ``ValueError``, ``TypeError`` and :class:`~hermes.errors.CacheError` (hermes refusing an
    argument, or a ``cache_dir`` of another evaluation) become :class:`ConfigError`; with
    ``setup=True`` (building the model, data, attacks and defenses from the config, before any
    work) so does any ``OSError`` (a missing or damaged input file). Anything else becomes a
    :class:`RunError`. ``hermes --debug`` re-raises the original exception instead, traceback
    and all.

    Args:
        where: what was being done or which config key was being built, for the message.
        setup: the block only builds inputs from the config.
    """
    config_errors: tuple[type[BaseException], ...] = (ValueError, TypeError, CacheError)
    if setup:
        config_errors += (OSError,)
    try:
        yield
    except click.ClickException:
        raise
    except KeyboardInterrupt:
        raise click.Abort() from None
    except config_errors as error:
        if _debug():
            raise
        raise ConfigError(f"{where}: {error}") from error
    except Exception as error:
        if _debug():
            raise
        raise RunError(
            f"{where} failed: {type(error).__name__}: {error} (run `hermes --debug ...` for the "
            "traceback)"
        ) from error
