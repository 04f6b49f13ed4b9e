"""The ``dse`` command. Each subcommand lives in ``dse/commands/<name>.py`` and defines
``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``.

User mistakes (:class:`dse.errors.UserError`) print one line on stderr and exit with code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import textwrap

from dse.errors import UserError

#: What ``dse --help`` says the command is for (one line).
DESCRIPTION = (
    "Design-space exploration of FPGA accelerators for a vision encoder: model, sweep, search, "
    "select, export and plot designs (default: smolVLA's encoder on an Alveo U280)."
)

#: Subcommands in the order a run calls them (``snakemake --cores 8``: one call per rule).
RUN_ORDER = (
    "roofline",
    "sweep",
    "pareto",
    "search",
    "refine",
    "select",
    "export",
    "plot",
    "explore",
    "summary",
    "calibrate",
)

#: Subcommands for working by hand, after those of a run (csim checks what export wrote).
TOOLS = ("csim", "evaluate", "bench", "search-quality", "dashboard", "compare", "workload")

#: Subcommands in the order ``dse --help`` lists them.
COMMANDS = RUN_ORDER + TOOLS

EPILOG = f"""\
a run, in order (snakemake --cores 8 makes one call per rule):
  {" -> ".join(RUN_ORDER)}
  (pareto runs twice: on the sweep, whose front warm-starts the search, then on everything)
by hand:
  {", ".join(TOOLS)}
'dse COMMAND --help' shows a command's arguments."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse errors are user errors too: exit 2
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _module(name: str):
    try:
        return importlib.import_module(f"dse.commands.{name.replace('-', '_')}")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("dse.commands."):
            return None
        raise


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="dse",
        description=textwrap.fill(DESCRIPTION, 79),  # the formatter keeps text as it is given
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from dse import __version__

    parser.add_argument("--version", action="version", version=f"dse {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMANDS:
        mod = _module(name)
        if mod is None:
            continue
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except UserError as exc:
        print(f"dse {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dse {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
