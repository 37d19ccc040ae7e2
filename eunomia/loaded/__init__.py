"""A package in the kernel, in two phases with a type each (as libbpf-rs does):

- OpenPackage: opened by libbpf, not loaded. Globals, autoload and map sizes are set
  here, and only here.
- LoadedPackage: loaded (programs verified, maps created): attach, read events, use maps.

    pkg = eunomia.Package.load("package.json")
    with pkg.open(targ_pid=123) as prog:          # both phases at once
        prog.attach()
        for ev in prog.events(timeout=1.0):
            print(ev.pid, ev.comm)
        prog.detach()
        for ev in prog.drain():                   # what was sent before the detach
            print(ev.pid, ev.comm)

    with eunomia.OpenPackage(pkg) as opened:      # phase by phase
        opened.set_global("targ_pid", 123)
        opened.set_max_entries("events", 1 << 20)
        prog = opened.load()
"""

from ..lazy import lazy_exports

# The names load with their module on first use: `ecli run` opens the object (opened)
# before it imports the live side (live: events, attach), which loads while the kernel
# verifies.
_LAZY = {"LoadedPackage": "live", "BackgroundLoad": "opened", "OpenPackage": "opened",
         "custom_btf": "opened", "load_package": "opened", "require_kernel_btf": "opened"}


__getattr__ = lazy_exports(__name__, _LAZY)


__all__ = ["BackgroundLoad", "LoadedPackage", "OpenPackage", "custom_btf", "load_package",
           "require_kernel_btf"]
