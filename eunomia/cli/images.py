"""`ecli push`, `pull`, `image ls|rm|inspect`, `sign`, `generate-key-pair`, `login`,
`logout`: packages in OCI registries (eunomia.oci does the work)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .. import oci  # its parts load on first use: `ecli run FILE` never needs them
from ..errors import ArgumentError, SourceError

UPSTREAM_MODULE = "app.wasm"          # eunomia-bpf's default for `ecli push -m`
REF_HELP = "image reference: HOST[:PORT]/PATH[:TAG] or HOST/PATH@sha256:DIGEST"


def add_transport_options(parser: argparse.ArgumentParser) -> None:
    """TLS options every registry command takes (ecli run too)."""
    parser.add_argument("--insecure", action="store_true",
                        help="allow plain HTTP and unverified TLS for any registry "
                             "(loopback registries may use plain HTTP without it)")
    parser.add_argument("--cafile", metavar="PEM",
                        help="trust this CA bundle for the registry's TLS certificate")


def _add_credential_options(parser: argparse.ArgumentParser) -> None:
    add_transport_options(parser)
    parser.add_argument("-u", "--username", help="registry user (default: the docker "
                        "config's credentials, ~/.docker/config.json)")
    parser.add_argument("-p", "--password", help="registry password (with -u; "
                        "--password-stdin keeps it out of the process list)")
    parser.add_argument("--password-stdin", action="store_true",
                        help="read the password from standard input")
    parser.add_argument("-i", "--interactive", action="store_true",
                        help="ask for the user and password")


def _ask(prompt: str) -> str:
    import getpass  # (termios) loaded only to ask: `ecli run` never does
    return getpass.getpass(prompt)


def add_image_parsers(commands) -> None:
    raw = argparse.RawDescriptionHelpFormatter
    push = commands.add_parser(
        "push", help="push a package (or wasm module) to an OCI registry",
        description="Push a package.json/.yaml, a tar package (ecc --btfgen) or a wasm "
                    "module as an OCI image. Annotations come from the package's doc "
                    "(org.opencontainers.image.title, version, description).",
        epilog="examples:\n  ecli push localhost:5000/tools/exitsnoop:1     "
               "# ./package.json\n  ecli push -m build/package.json ghcr.io/me/opensnoop:v2"
               "\n  ecli push -u me -p secret -a org.opencontainers.image.source=https://x "
               "host/x:1", formatter_class=raw)
    push.add_argument("-m", "--module", metavar="PACKAGE",
                      help="the file to push (default: package.json in the current "
                           f"directory, else {UPSTREAM_MODULE} as eunomia-bpf does)")
    push.add_argument("-a", "--annotation", action="append", default=[], metavar="KEY=VALUE",
                      help="add a manifest annotation (repeatable)")
    _add_credential_options(push)
    push.add_argument("reference", metavar="REF", help=REF_HELP)

    pull = commands.add_parser(
        "pull", help="pull an image's package into a file",
        description="Pull an image into the local cache and write its package (or wasm "
                    "module) to a file.",
        epilog="examples:\n  ecli pull localhost:5000/tools/exitsnoop:1\n"
               "  ecli pull -o exitsnoop.json ghcr.io/me/exitsnoop@sha256:...",
        formatter_class=raw)
    pull.add_argument("-o", "--output", metavar="FILE",
                      help="where to write it (default: the file name the image carries, "
                           "such as package.json or app.wasm; - for standard output)")
    _add_credential_options(pull)
    pull.add_argument("reference", metavar="REF", help=REF_HELP)

    image = commands.add_parser(
        "image", help="list, inspect and remove cached images",
        description="The local image cache (an OCI image layout in "
                    "$EUNOMIA_CACHE_DIR, else $XDG_CACHE_HOME/eunomia/oci, else "
                    "~/.cache/eunomia/oci), which lets a second "
                    "run of an image work without the network.")
    actions = image.add_subparsers(dest="image_action", metavar="ACTION", required=True)
    listing = actions.add_parser("ls", help="list cached images")
    listing.add_argument("--json", action="store_true", help="one JSON object per image")
    remove = actions.add_parser("rm", help="remove images from the cache")
    remove.add_argument("references", nargs="+", metavar="REF", help=REF_HELP)
    inspect = actions.add_parser(
        "inspect", help="show an image's manifest, annotations, programs and flags "
                        "(pulled if not cached)")
    inspect.add_argument("--json", action="store_true", help="print the manifest and "
                         "summary as JSON")
    _add_credential_options(inspect)
    inspect.add_argument("reference", metavar="REF", help=REF_HELP)

    sign = commands.add_parser(
        "sign", help="sign an image (as `cosign sign --key`) or a package file",
        description="Sign the image a reference names with an ECDSA P-256 key, in "
                    "cosign's format (a sha256-DIGEST.sig tag beside it), so that both "
                    "`cosign verify --key KEY.pub` and `ecli run --verify-key KEY.pub` "
                    "accept it. Given a file instead, write FILE.sig: the base64 "
                    "signature of its bytes (as `cosign sign-blob`), which `ecli client "
                    "start` and `ecli fleet apply` send along to servers that run only "
                    "signed code (`ecli server --verify-key`).",
        epilog="examples:\n  ecli generate-key-pair          # cosign.key, cosign.pub\n"
               "  COSIGN_PASSWORD=... ecli sign --key cosign.key localhost:5000/x:1\n"
               "  ecli run --verify-key cosign.pub localhost:5000/x:1\n"
               "  ecli sign --key cosign.key package.json    # package.json.sig",
        formatter_class=raw)
    sign.add_argument("--key", required=True, metavar="KEY",
                      help="private key: cosign.key (password from $COSIGN_PASSWORD or a "
                           "prompt) or a PEM EC P-256 key")
    _add_credential_options(sign)
    sign.add_argument("reference", metavar="REF|FILE", help=REF_HELP + "; or a package file")

    keys = commands.add_parser(
        "generate-key-pair", help="write a signing key pair (cosign.key, cosign.pub)",
        description="Write a new ECDSA P-256 key pair in cosign's format: PREFIX.key "
                    "encrypted with $COSIGN_PASSWORD (or a prompted password) and "
                    "PREFIX.pub.")
    keys.add_argument("--output-key-prefix", default="cosign", metavar="PREFIX",
                      help="file name prefix (default cosign)")

    login = commands.add_parser(
        "login", help="check and store credentials for a registry",
        description="Check the credentials against the registry, then store them in the "
                    "docker config (~/.docker/config.json or $DOCKER_CONFIG), where ecli, "
                    "docker, podman and oras all find them.")
    _add_credential_options(login)
    login.add_argument("registry", metavar="HOST[:PORT]")
    logout = commands.add_parser("logout", help="forget a registry's stored credentials")
    logout.add_argument("registry", metavar="HOST[:PORT]")


def add_run_image_options(run: argparse.ArgumentParser) -> None:
    group = run.add_argument_group("images (when PACKAGE is HOST/NAME:TAG)")
    group.add_argument("--pull", choices=oci.PULL_POLICIES, default="missing",
                       help="missing: use the cached image if there is one (default); "
                            "always: ask the registry; never: the cache only")
    group.add_argument("--verify-key", metavar="PUB",
                       help="run only if a signature by this public key (cosign.pub) "
                            "vouches for the image")
    add_transport_options(group)


# option -> takes a value: what ecli's own run parser reads and the program's must not see
RUN_IMAGE_OPTIONS = {"--pull": True, "--verify-key": True, "--cafile": True,
                     "--insecure": False}


# -- options ------------------------------------------------------------------------


def _credentials(args) -> oci.Credentials | None:
    user, password = getattr(args, "username", None), getattr(args, "password", None)
    if getattr(args, "password_stdin", False):
        if sys.stdin is None:
            raise ArgumentError("--password-stdin: standard input is closed")
        password = sys.stdin.readline().rstrip("\n")
    if getattr(args, "interactive", False):
        try:
            user = user or input("Username: ").strip()
            password = password or _ask("Password: ")
        except (EOFError, RuntimeError, OSError):    # no stdin, or it is closed
            raise ArgumentError("-i: no terminal to ask for the credentials") from None
    if (user is None) != (password is None):
        raise ArgumentError("give both -u USER and a password (-p, --password-stdin or -i)")
    return oci.Credentials(user, password) if user is not None else None


def registry_options(args) -> oci.RegistryOptions:
    if args.cafile and not Path(args.cafile).is_file():
        raise ArgumentError(f"--cafile: no file {args.cafile}")
    return oci.RegistryOptions(credentials=_credentials(args), insecure=args.insecure,
                           cafile=args.cafile)


def _cosign_password(confirm: bool = False) -> bytes:
    if "COSIGN_PASSWORD" in os.environ:
        return os.environ["COSIGN_PASSWORD"].encode()
    if sys.stdin is None or not sys.stdin.isatty():
        raise ArgumentError("set COSIGN_PASSWORD (no terminal to ask for the key's password)")
    try:
        password = _ask("Password for the private key: ")
        if confirm and _ask("Again: ") != password:
            raise ArgumentError("the passwords differ")
    except (EOFError, OSError):
        raise ArgumentError("set COSIGN_PASSWORD (the terminal went away)") from None
    return password.encode()


# -- commands -----------------------------------------------------------------------


def _module_path(module: str | None) -> Path:
    if module:
        return Path(module)
    for name in ("package.json", "package.yaml", UPSTREAM_MODULE):
        if Path(name).is_file():
            return Path(name)
    raise ArgumentError(f"nothing to push: no package.json or {UPSTREAM_MODULE} here "
                        "(-m names the file)")


def _annotations(path: Path, content: bytes, extra: list[str]) -> dict:
    from ..oci.mediatypes import WASM_LAYER, layer_type_for
    from ..package import Package
    out = {}
    if layer_type_for(path.name, content) != WASM_LAYER:
        package = Package.load(content, None)   # refuse a broken package before it ships
        skel = package.meta.bpf_skel
        doc = skel.doc
        out = oci.package_annotations(skel.obj_name, doc.version if doc else None,
                                  (doc.brief or doc.description) if doc else None)
    for item in extra:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ArgumentError(f"-a {item!r}: expected KEY=VALUE")
        out[key] = value
    return out


def run_push(args) -> int:
    path = _module_path(args.module)
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise ArgumentError(f"cannot read {path}: {exc.strerror}") from None
    annotations = _annotations(path, content, args.annotation)
    reference = oci.parse_reference(args.reference)
    images = oci.Images(registry_options(args))
    digest = images.push(reference, content, path.name, annotations)
    print(f"pushed {path} to {reference}@{digest}")
    return 0


def run_pull(args) -> int:
    image = oci.Images(registry_options(args)).pull(args.reference, policy="always")
    if args.output == "-":
        sys.stdout.buffer.write(image.content)
        return 0
    output = Path(args.output or image.file_name)
    try:
        output.write_bytes(image.content)
    except OSError as exc:
        raise ArgumentError(f"cannot write {output}: {exc.strerror or exc}") from None
    print(f"pulled {image.reference}@{image.digest} to {output}", file=sys.stderr)
    return 0


def run_sign(args) -> int:
    from ..oci.signing import load_private_key, sign
    from .run import path_exists
    key = load_private_key(args.key, _cosign_password)     # asked for only if encrypted
    if path_exists(args.reference):
        from ..files import read_bounded
        from ..package.package import write_atomically
        from ..package.source import MAX_PACKAGE_BYTES
        signature = sign(key, read_bounded(args.reference, MAX_PACKAGE_BYTES))
        out = Path(f"{args.reference}.sig")
        write_atomically(out, (signature + "\n").encode())
        print(f"signed {args.reference}: {out}")
        return 0
    digest = oci.Images(registry_options(args)).sign(args.reference, key)
    print(f"signed {oci.parse_reference(args.reference).name}@{digest}")
    return 0


def run_generate_key_pair(args) -> int:
    from ..oci.signing import generate_key_pair
    private, public = generate_key_pair(args.output_key_prefix, _cosign_password(True))
    print(f"private key written to {private}\npublic key written to {public}")
    return 0


def run_login(args) -> int:
    try:
        reference = oci.parse_reference(f"{args.registry}/library/none")   # checks the host
    except SourceError:
        raise ArgumentError(f"{args.registry!r} is not a registry host (HOST[:PORT], "
                            "with a dot or a port, or localhost)") from None
    options = registry_options(args)
    if options.credentials is None:
        args.interactive = True
        options.credentials = _credentials(args)
    client = oci.RegistryClient(reference, options)
    client.ping()
    from ..oci.credentials import save_credentials
    path = save_credentials(args.registry, options.credentials)
    print(f"login succeeded: credentials for {args.registry} stored in {path}")
    return 0


def run_logout(args) -> int:
    from ..oci.credentials import forget_credentials
    if not forget_credentials(args.registry):
        raise ArgumentError(f"no stored credentials for {args.registry}")
    print(f"removed the credentials for {args.registry}")
    return 0


def run_image(args) -> int:
    cache = oci.ImageCache()
    if args.image_action == "ls":
        return _list_images(cache, args.json)
    if args.image_action == "rm":
        for text in args.references:
            count = cache.forget(oci.parse_reference(text))
            print(f"removed {text} ({count} name{'s' if count != 1 else ''})")
        return 0
    return _inspect(args, cache)


def _list_images(cache: oci.ImageCache, as_json: bool) -> int:
    from ..oci.mediatypes import CREATED, TITLE, VERSION
    images = cache.images()
    if as_json:
        for image in images:
            print(json.dumps({"reference": image.reference, "digest": image.digest,
                              "annotations": image.annotations}))
        return 0
    print(f"{'REFERENCE':<50} {'DIGEST':<19} {'TITLE':<16} {'VERSION':<10} CREATED")
    for image in images:
        a = image.annotations
        print(f"{image.reference:<50} {image.digest[:19]:<19} {a.get(TITLE, ''):<16} "
              f"{a.get(VERSION, ''):<10} {a.get(CREATED, '')}")
    return 0


def _inspect(args, cache: oci.ImageCache) -> int:
    image = oci.Images(registry_options(args), cache).pull(args.reference)
    summary = {"reference": str(image.reference), "digest": image.digest,
               "kind": image.kind, "file": image.file_name, "size": len(image.content),
               "annotations": image.annotations}
    if image.kind != "wasm":
        summary.update(_package_summary(image))
    if args.json:
        print(json.dumps({"manifest": image.manifest, **summary}, indent=2))
        return 0
    print(f"{summary['reference']}\n  digest: {image.digest}\n  kind:   {image.kind} "
          f"({image.file_name}, {len(image.content)} bytes)")
    print("  annotations:")
    for key, value in image.annotations.items():
        print(f"    {key}: {value}")
    for program in summary.get("programs", []):
        print(f"  program {program['name']}: {program['section']}")
    if summary.get("flags"):
        print("  flags:")
        for flag in summary["flags"]:
            print(f"    {flag['flag']:<24} {flag['help']}")
    print("  manifest:")
    print("    " + json.dumps(image.manifest, indent=2).replace("\n", "\n    "))
    return 0


def _package_summary(image) -> dict:
    """The programs and the flags `ecli run REF` takes, as `ecli run REF --help` lists."""
    from ..package import Package
    from ..session.flags import FlagParser, add_program_flags
    from ..variables import global_variables
    package = Package.load(image.content, image.kind)
    programs = [{"name": p.name, "section": p.attach or ""}
                for p in package.meta.bpf_skel.progs or []]
    parser = FlagParser(add_help=False)
    add_program_flags(parser, global_variables(package))
    flags = [{"flag": ", ".join(action.option_strings),
              "help": (action.help or "").replace("%%", "%")} for action in parser._actions
             if action.help != argparse.SUPPRESS]
    return {"programs": programs, "flags": flags}


COMMANDS = {"push": run_push, "pull": run_pull, "image": run_image, "sign": run_sign,
            "generate-key-pair": run_generate_key_pair, "login": run_login,
            "logout": run_logout}


def run_image_command(args) -> int:
    return COMMANDS[args.command](args)
