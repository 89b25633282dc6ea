"""The ``diapsar`` command: subcommands are discovered in ``diapsar.commands``.

Each module ``diapsar/commands/<name>.py`` defines ``NAME`` (the subcommand, defaults to the module name with
``_`` turned into ``-``), ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``.
User mistakes raise ``diapsar.errors.DiapsarError`` and end as one line on stderr with a non-zero exit.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Callable, Sequence

from . import __version__
from .errors import DiapsarError


def _command_modules():
    from . import commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        yield importlib.import_module(f"{commands.__name__}.{info.name}")


class OneLineArgumentParser(argparse.ArgumentParser):
    """Usage mistakes end as one line on stderr (exit 2), like every other user error; subparsers inherit it."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(prog="diapsar", description="Sentinel-1 interferometry tools.")
    parser.add_argument("--version", action="version", version=f"diapsar {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _command_modules():
        name = getattr(mod, "NAME", mod.__name__.rsplit(".", 1)[-1].replace("_", "-"))
        p = sub.add_parser(name, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(p)
        # accepted after the subcommand too (``diapsar info X --debug``), unless the command defines it
        if "--debug" not in p._option_string_actions:
            p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                           help="show full tracebacks on errors")
        p.set_defaults(_run=mod.run)
    return parser


def guarded(prog: str, func: Callable[[], int | None], debug: bool = False) -> int:
    """Run ``func`` turning user errors into one line on stderr and a non-zero exit code."""
    try:
        code = func()
        return int(code or 0)
    except DiapsarError as exc:
        if debug:
            raise
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # noqa: BLE001 - last resort: one line, never a traceback
        if debug:
            raise
        print(f"{prog}: internal error: {type(exc).__name__}: {exc} (rerun with --debug for details)",
              file=sys.stderr)
        return 3


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    return guarded("diapsar", lambda: args._run(args), debug=debug)


if __name__ == "__main__":
    sys.exit(main())
