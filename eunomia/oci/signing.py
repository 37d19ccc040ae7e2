"""Key-pair signatures in cosign's format, so `cosign verify --key` and `ecli run
--verify-key` agree on the same images.

What cosign stores (its `.sig` tag layout, which every cosign release verifies):
- the tag `sha256-HEX.sig` in the image's repository names a manifest whose layers are
  `application/vnd.dev.cosign.simplesigning.v1+json` blobs, one per signature;
- each blob is the "simple signing" payload below, and the layer's annotation
  `dev.cosignproject.cosign/signature` is the base64 ECDSA P-256 / SHA-256 signature
  (ASN.1 DER) of those exact bytes;
- a verifier checks the signature, then that the payload's docker-manifest-digest is
  the image's digest.

Keys: the public key is a PEM `PUBLIC KEY`. The private key is cosign's own file
(`ENCRYPTED SIGSTORE PRIVATE KEY`: a PKCS#8 key sealed with NaCl secretbox under an
scrypt key of the password), or a plain PEM EC key as openssl writes it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from pathlib import Path

from ..errors import SignatureError
from ..files import read_bounded

SIGNATURE_TYPE = "cosign container image signature"
COSIGN_PEM_TYPES = ("ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY")
SCRYPT_N, SCRYPT_R, SCRYPT_P = 65536, 8, 1       # cosign's current parameters


def signature_tag(digest: str) -> str:
    """The tag cosign keeps an image's signatures under: sha256:HEX -> sha256-HEX.sig."""
    return digest.replace(":", "-") + ".sig"


def payload(repository: str, digest: str) -> bytes:
    """cosign's simple-signing payload, byte for byte as cosign (Go's json) writes it."""
    document = {"critical": {"identity": {"docker-reference": repository},
                             "image": {"docker-manifest-digest": digest},
                             "type": SIGNATURE_TYPE},
                "optional": None}
    return json.dumps(document, separators=(",", ":")).encode()


def signature_config(payload_digests: list[str]) -> bytes:
    """The image config cosign writes beside its signature layers (verifiers ignore it)."""
    return json.dumps({"architecture": "", "created": "0001-01-01T00:00:00Z",
                       "history": [{"created": "0001-01-01T00:00:00Z"}], "os": "",
                       "rootfs": {"type": "layers", "diff_ids": payload_digests},
                       "config": {}}, separators=(",", ":")).encode()


def _read(path: str | os.PathLike, what: str) -> bytes:
    try:
        return read_bounded(path, 1 << 20)     # a key is a few hundred bytes
    except OSError as exc:
        raise SignatureError(f"cannot read the {what} {path}: {exc.strerror}") from None


def load_public_key(path: str | os.PathLike):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    try:
        key = serialization.load_pem_public_key(_read(path, "public key"))
    except ValueError:
        raise SignatureError(f"{path}: not a PEM public key (cosign.pub, or "
                             "`openssl ec -pubout` of the private key)") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise SignatureError(f"{path}: not an ECDSA public key (cosign keys are P-256)")
    return key


def load_private_key(path: str | os.PathLike, password=None):
    """The EC private key at `path`: cosign's encrypted file or a PEM EC key. `password`
    is bytes, or a function giving them, called only for a key that is encrypted (so a
    command asks for one only then)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    def secret() -> bytes:
        given = password() if callable(password) else password
        if given is None:
            raise SignatureError(f"{path} is encrypted: set COSIGN_PASSWORD")
        return given
    text = _read(path, "private key")
    kind = next((t for t in COSIGN_PEM_TYPES if f"-----BEGIN {t}-----".encode() in text), None)
    try:
        if kind:
            der = _decrypt_cosign_key(_pem_body(text, kind), secret(), path)
            key = serialization.load_der_private_key(der, None)
        else:
            try:
                key = serialization.load_pem_private_key(text, None)
            except TypeError:               # an encrypted PEM (openssl ... -aes256)
                key = serialization.load_pem_private_key(text, secret() or None)
    except TypeError:
        raise SignatureError(f"{path} is encrypted: set COSIGN_PASSWORD") from None
    except ValueError as exc:
        raise SignatureError(f"{path}: not a usable private key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise SignatureError(f"{path}: not an ECDSA private key (cosign keys are P-256)")
    return key


def _pem_body(text: bytes, kind: str) -> bytes:
    start = text.index(f"-----BEGIN {kind}-----".encode()) + len(kind) + 16
    end = text.find(f"-----END {kind}-----".encode(), start)
    try:
        return base64.b64decode(b"".join(text[start:end].split()), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("the key's PEM body is not base64") from None


def _b64(field) -> bytes:
    return base64.b64decode(field, validate=True)


def _decrypt_cosign_key(body: bytes, password: bytes, path) -> bytes:
    import nacl.exceptions
    import nacl.secret
    try:
        sealed = json.loads(body)
        params = sealed["kdf"]["params"]
        if sealed["kdf"]["name"] != "scrypt" or sealed["cipher"]["name"] != "nacl/secretbox":
            raise SignatureError(f"{path}: unknown key encryption "
                                 f"{sealed['kdf']['name']}/{sealed['cipher']['name']}")
        n, r, p = int(params["N"]), int(params["r"]), int(params["p"])
        if not (2 <= n <= 1 << 20 and 1 <= r <= 32 and 1 <= p <= 16):
            raise SignatureError(f"{path}: scrypt parameters out of range")
        key = hashlib.scrypt(password, salt=_b64(sealed["kdf"]["salt"]), n=n, r=r, p=p,
                             dklen=32, maxmem=256 * 1024 * 1024)
        return nacl.secret.SecretBox(key).decrypt(_b64(sealed["ciphertext"]),
                                                  _b64(sealed["cipher"]["nonce"]))
    except nacl.exceptions.CryptoError:
        raise SignatureError(f"{path}: wrong password (COSIGN_PASSWORD)") from None
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise SignatureError(f"{path}: not a cosign private key file") from None


def _encrypt_cosign_key(der: bytes, password: bytes) -> bytes:
    import nacl.secret
    import nacl.utils
    salt = os.urandom(32)
    key = hashlib.scrypt(password, salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32,
                         maxmem=256 * 1024 * 1024)
    nonce = nacl.utils.random(nacl.secret.SecretBox.NONCE_SIZE)
    sealed = nacl.secret.SecretBox(key).encrypt(der, nonce).ciphertext

    def text(raw: bytes) -> str:
        return base64.b64encode(raw).decode()
    return json.dumps({"kdf": {"name": "scrypt", "params": {"N": SCRYPT_N, "r": SCRYPT_R,
                                                            "p": SCRYPT_P}, "salt": text(salt)},
                       "cipher": {"name": "nacl/secretbox", "nonce": text(nonce)},
                       "ciphertext": text(sealed)}).encode()


def _pem(kind: str, body: bytes) -> bytes:
    encoded = base64.b64encode(body)
    lines = [encoded[i:i + 64] for i in range(0, len(encoded), 64)]
    return b"\n".join([f"-----BEGIN {kind}-----".encode(), *lines,
                       f"-----END {kind}-----".encode(), b""])


def generate_key_pair(prefix: str | os.PathLike, password: bytes) -> tuple[Path, Path]:
    """Writes PREFIX.key (cosign's encrypted format) and PREFIX.pub, as
    `cosign generate-key-pair` does; refuses to overwrite either."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    private_path, public_path = Path(f"{prefix}.key"), Path(f"{prefix}.pub")
    for path in (private_path, public_path):
        if path.exists():
            raise SignatureError(f"{path} exists: not overwriting a key")
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    try:
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(_pem(COSIGN_PEM_TYPES[0], _encrypt_cosign_key(der, password)))
        public_path.write_bytes(public)
    except OSError as exc:
        raise SignatureError(f"cannot write the key pair at {prefix}: "
                             f"{exc.strerror or exc}") from None
    return private_path, public_path


def sign(private_key, data: bytes) -> str:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    return base64.b64encode(private_key.sign(data, ec.ECDSA(hashes.SHA256()))).decode()


def verifies(public_key, data: bytes, signature_b64: str) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    try:
        public_key.verify(base64.b64decode(signature_b64, validate=True), data,
                          ec.ECDSA(hashes.SHA256()))
        return True
    except (InvalidSignature, binascii.Error, ValueError, TypeError):
        return False


def signed_digest(data: bytes) -> str | None:
    """The image digest a simple-signing payload vouches for, if it is one."""
    try:
        document = json.loads(data)
        digest = document["critical"]["image"]["docker-manifest-digest"]
    except (ValueError, KeyError, TypeError):
        return None
    return digest if isinstance(digest, str) else None
