#!/usr/bin/python3
"""Generates the known-answer vectors of the verifier's unit tests.

Run ONCE (the outputs are committed; the C++ tests only read them):

    /usr/bin/python3 tests/testdata/verifier/gen_vectors.py

Needs Debian's python3-tpm2-pytss (hence /usr/bin/python3) and tpm2-tools
(tpm2_makecredential -T none). Writes, next to this script:

  kdfa.json             KDFa cases computed by tpm2_pytss.internal.crypto._kdfa
  kdfe.json             KDFe cases computed by tpm2_pytss.internal.crypto.kdfe
  make_credential.json  MakeCredential cases for software EKs:
    - "tpm2-pytss" cases: tpm2_pytss.utils.make_credential with its
      randomness pinned: the RSA seed (secrets.token_bytes) or the ECC
      ephemeral key (ec.generate_private_key) is fixed and saved, so the
      credential blob (and, for ECC, the secret) is reproducible. The RSA
      secret is still OAEP-randomized: tests decrypt it with the EK.
    - "tpm2_makecredential" cases: tpm2-tools' software MakeCredential
      (-T none) with the EK as a TPM2B_PUBLIC carrying the EK-profile nameAlg
      and symmetric algorithm. Its seed is random and not saved: tests
      recover it with the EK's private key as the TPM would. tpm2-tools
      marshals the ephemeral point with minimal-length coordinates (a P-521
      x may be 65 bytes); the TPM hashes them as received, and so do tests.
    tpm2-pytss cannot do the AES-256 profiles (it passes a 32-byte IV to
    CFB and fails), so those come from tpm2-tools only.

All byte strings are lowercase hex; labels are given without their
terminating zero octet (the TPM functions append it).
"""

import json
import os
import secrets
import subprocess
import tempfile

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from tpm2_pytss.constants import TPM2_ALG, TPMA_OBJECT
from tpm2_pytss.internal import crypto as pytss_crypto
from tpm2_pytss.types import (TPM2B_PUBLIC, TPMT_SYM_DEF_OBJECT, TPMU_SYM_KEY_BITS,
                              TPMU_SYM_MODE)
from tpm2_pytss.utils import make_credential

HERE = os.path.dirname(os.path.abspath(__file__))
HASHES = {"sha256": TPM2_ALG.SHA256, "sha384": TPM2_ALG.SHA384, "sha512": TPM2_ALG.SHA512}
CURVES = {"ecc-p256": ec.SECP256R1(), "ecc-p384": ec.SECP384R1(), "ecc-p521": ec.SECP521R1()}
# TCG EK Credential Profile: key type -> (nameAlg, AES key bits).
PROFILES = {
    "rsa2048": ("sha256", 128), "rsa3072": ("sha384", 256), "rsa4096": ("sha384", 256),
    "ecc-p256": ("sha256", 128), "ecc-p384": ("sha384", 256), "ecc-p521": ("sha512", 256),
}
EK_ATTRIBUTES = (TPMA_OBJECT.FIXEDTPM | TPMA_OBJECT.FIXEDPARENT |
                 TPMA_OBJECT.SENSITIVEDATAORIGIN | TPMA_OBJECT.ADMINWITHPOLICY |
                 TPMA_OBJECT.RESTRICTED | TPMA_OBJECT.DECRYPT)


def write(name, data):
    with open(os.path.join(HERE, name), "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")


def kdfa_cases():
    cases = []
    for hash_name, label, u_len, v_len, bits in [
            ("sha256", "STORAGE", 34, 0, 128),
            ("sha256", "INTEGRITY", 0, 0, 256),
            ("sha256", "ATH", 32, 32, 520),      # three blocks, last one partial
            ("sha384", "STORAGE", 50, 0, 256),
            ("sha384", "INTEGRITY", 0, 0, 384),
            ("sha512", "STORAGE", 66, 0, 256),
            ("sha512", "INTEGRITY", 0, 0, 1024),
    ]:
        key, u, v = secrets.token_bytes(32), secrets.token_bytes(u_len), secrets.token_bytes(v_len)
        out = pytss_crypto._kdfa(HASHES[hash_name], key, label.encode(), u, v, bits)
        cases.append({"hash": hash_name, "key": key.hex(), "label": label,
                      "context_u": u.hex(), "context_v": v.hex(), "bits": bits,
                      "output": out.hex()})
    return cases


def kdfe_cases():
    cases = []
    for hash_name, z_len, coord_len, bits in [
            ("sha256", 32, 32, 256), ("sha256", 32, 32, 520), ("sha384", 48, 48, 384),
            ("sha512", 66, 66, 512), ("sha512", 66, 66, 1032)]:
        z, u, v = (secrets.token_bytes(n) for n in (z_len, coord_len, coord_len))
        out = pytss_crypto.kdfe(HASHES[hash_name], z, b"IDENTITY\x00", u, v, bits)
        cases.append({"hash": hash_name, "z": z.hex(), "label": "IDENTITY", "party_u": u.hex(),
                      "party_v": v.hex(), "bits": bits, "output": out.hex()})
    return cases


def new_key(key_type):
    if key_type.startswith("rsa"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[3:]))
    # A TPM marshals EK coordinates padded to the field size, and KDFe hashes
    # the EK's x as marshaled. TPM2B_PUBLIC.from_pem writes minimal-length
    # coordinates, so keep only keys whose coordinates need no padding.
    curve = CURVES[key_type]
    field_bytes = (curve.key_size + 7) // 8
    while True:
        key = ec.generate_private_key(curve)
        numbers = key.public_key().public_numbers()
        if all((c.bit_length() + 7) // 8 == field_bytes for c in (numbers.x, numbers.y)):
            return key


def private_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def ek_public(key, key_type):
    hash_name, aes_bits = PROFILES[key_type]
    symmetric = TPMT_SYM_DEF_OBJECT(algorithm=TPM2_ALG.AES,
                                    keyBits=TPMU_SYM_KEY_BITS(aes=aes_bits),
                                    mode=TPMU_SYM_MODE(aes=TPM2_ALG.CFB))
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return TPM2B_PUBLIC.from_pem(pem, nameAlg=HASHES[hash_name], symmetric=symmetric,
                                 objectAttributes=EK_ATTRIBUTES)


def ak_name(hash_name):
    digest_size = {"sha256": 32, "sha384": 48, "sha512": 64}[hash_name]
    return int(HASHES[hash_name]).to_bytes(2, "big") + secrets.token_bytes(digest_size)


def case_header(tool, key_type, key, name, credential):
    hash_name, aes_bits = PROFILES[key_type]
    return {"tool": tool, "key_type": key_type, "name_alg": hash_name, "aes_bits": aes_bits,
            "ek_private_pem": private_pem(key), "ak_name": name.hex(),
            "credential": credential.hex()}


def pytss_rsa_case():
    key = new_key("rsa2048")
    name, credential, seed = ak_name("sha256"), secrets.token_bytes(32), secrets.token_bytes(32)
    real = pytss_crypto.secrets.token_bytes
    pytss_crypto.secrets.token_bytes = lambda n: seed[:n]
    try:
        blob, secret = make_credential(ek_public(key, "rsa2048"), credential, name)
    finally:
        pytss_crypto.secrets.token_bytes = real
    case = case_header("tpm2-pytss", "rsa2048", key, name, credential)
    case.update({"seed": seed.hex(), "credential_blob": blob.marshal().hex(),
                 "secret": secret.marshal().hex()})
    return case


def pytss_ecc_case():
    key = new_key("ecc-p256")
    ephemeral = new_key("ecc-p256")
    name, credential = ak_name("sha256"), secrets.token_bytes(32)
    real = pytss_crypto.ec.generate_private_key
    pytss_crypto.ec.generate_private_key = lambda curve, backend=None: ephemeral
    try:
        blob, secret = make_credential(ek_public(key, "ecc-p256"), credential, name)
    finally:
        pytss_crypto.ec.generate_private_key = real
    case = case_header("tpm2-pytss", "ecc-p256", key, name, credential)
    case.update({"ephemeral_private_pem": private_pem(ephemeral),
                 "credential_blob": blob.marshal().hex(), "secret": secret.marshal().hex()})
    return case


def tpm2_tools_case(key_type):
    key = new_key(key_type)
    name, credential = ak_name(PROFILES[key_type][0]), secrets.token_bytes(32)
    with tempfile.TemporaryDirectory() as tmp:
        paths = {n: os.path.join(tmp, n) for n in ("ek.pub", "secret.bin", "cred.out")}
        with open(paths["ek.pub"], "wb") as f:
            f.write(ek_public(key, key_type).marshal())
        with open(paths["secret.bin"], "wb") as f:
            f.write(credential)
        subprocess.run(["tpm2_makecredential", "-T", "none", "-Q", "-u", paths["ek.pub"],
                        "-s", paths["secret.bin"], "-n", name.hex(), "-o", paths["cred.out"]],
                       check=True)
        with open(paths["cred.out"], "rb") as f:
            out = f.read()
    # tpm2-tools' file: magic 0xBADCC0DE, version 1, TPM2B_ID_OBJECT,
    # TPM2B_ENCRYPTED_SECRET.
    assert out[:8] == bytes.fromhex("badcc0de00000001"), out[:8].hex()
    blob_len = 2 + int.from_bytes(out[8:10], "big")
    blob, secret = out[8:8 + blob_len], out[8 + blob_len:]
    assert len(secret) == 2 + int.from_bytes(secret[:2], "big")
    case = case_header("tpm2_makecredential", key_type, key, name, credential)
    case.update({"credential_blob": blob.hex(), "secret": secret.hex()})
    return case


def main():
    write("kdfa.json", kdfa_cases())
    write("kdfe.json", kdfe_cases())
    cases = [pytss_rsa_case(), pytss_ecc_case()]
    cases += [tpm2_tools_case(t) for t in
              ("rsa2048", "rsa3072", "rsa4096", "ecc-p256", "ecc-p384", "ecc-p521")]
    write("make_credential.json", cases)


if __name__ == "__main__":
    main()
