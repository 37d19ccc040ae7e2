"""What every test relies on, whatever started the suite."""

import signal

# A shell that starts a job in the background without job control (`./scripts/test &` in
# a script) starts it with SIGINT ignored, and every process the tests spawn inherits
# that: a Ctrl-C sent to them would be lost. The tests send SIGINT on purpose, so the
# suite gives its children the default disposition back (a handler is reset on exec).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
