"""How every command ends: its exit code, an error as one line on stderr (exit 1), Ctrl-C
as 130; the library's exceptions never reach the user as a traceback."""

from __future__ import annotations

import sys

from ..errors import EunomiaError, HelpRequested, VerifierError
from ..output.terminal import terminal_safe

VERIFIER_TAIL = 8  # verifier log lines shown without -v


def print_error(prog: str, message: object) -> None:
    """The one error line of a command, `PROG: error: MESSAGE`, on stderr; what the
    message quotes (a file name, a peer's reply) is shown with its controls escaped."""
    print(f"{prog}: error: {terminal_safe(str(message))}", file=sys.stderr)


def report(exc: EunomiaError, verbose: bool, prog: str = "ecli") -> None:
    """The error's one line, and the tail of a verifier's log (all of it with -v)."""
    print_error(prog, exc)
    if isinstance(exc, VerifierError) and exc.log:
        lines = exc.log if verbose else exc.log[-VERIFIER_TAIL:]
        if not verbose and len(exc.log) > VERIFIER_TAIL:
            print(f"  ... (last {VERIFIER_TAIL} of {len(exc.log)} verifier log lines; "
                  "-v shows all)", file=sys.stderr)
        for line in lines:
            print(f"  {terminal_safe(line)}", file=sys.stderr)


def run_guarded(command, verbose: bool, prog: str = "ecli") -> int:
    """command()'s exit code; errors as one line (exit 1), Ctrl-C as 130."""
    try:
        return command()
    except HelpRequested as shown:
        sys.stdout.write(shown.text)
        return 0
    except EunomiaError as exc:
        report(exc, verbose, prog)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`ecli run ... | head`): not an error.
        sys.stderr.close()
        return 0
    except OSError as exc:
        # the last net for a file the system refuses (a name too long, no permission)
        name = str(exc.filename or "")
        name = name if len(name) <= 200 else name[:200] + "..."
        print_error(prog, f"{exc.strerror or exc}{': ' + name if name else ''}")
        return 1
