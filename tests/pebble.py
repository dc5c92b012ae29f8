"""Pebble (an ACME test CA) and pebble-challtestsrv (the DNS server both Pebble and the domain doctor ask),
started for a test or a bench, each on free ports of 127.0.0.1, with a TLS certificate for Pebble's own
API made here. Debian's `pebble` package provides both binaries."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_ca_and_leaf(directory: Path, names: list[str]) -> tuple[Path, Path, Path]:
    """A CA (ca.pem) and a leaf for `names` signed by it (leaf.pem, leaf.key)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "slipway test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    sans.append(x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1")))
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = directory / "ca.pem", directory / "leaf.pem", directory / "leaf.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


@dataclass
class Pebble:
    directory: str  # the ACME directory URL
    api_ca: Path  # trust this for the directory (SLIPWAY_ACME_CA_ROOT)
    management: str  # Pebble's management API (its issuing roots)
    dns: str  # challtestsrv's DNS, ip:port
    dns_management: str  # challtestsrv's management API
    workdir: Path

    def root_pem(self) -> Path:
        """Pebble's issuing root (random per run): what a client trusts to verify issued certificates."""
        trust = ssl.create_default_context(cafile=str(self.api_ca))
        pem = httpx.get(f"{self.management}/roots/0", verify=trust, timeout=10).text
        path = self.workdir / "issuing-root.pem"
        path.write_text(pem)
        return path

    def set_a(self, host: str, *addresses: str) -> None:
        httpx.post(f"{self.dns_management}/add-a", json={"host": host.rstrip(".") + ".",
                                                         "addresses": list(addresses)}, timeout=5).raise_for_status()

    def orders(self) -> int:
        """How many certificates Pebble issued (its management API lists none: we count from its log)."""
        return (self.workdir / "pebble.log").read_text(errors="replace").count("Issued certificate serial")


def available() -> bool:
    return bool(shutil.which("pebble") and shutil.which("pebble-challtestsrv"))


@contextmanager
def running_pebble(workdir: Path, *, http_port: int, tls_port: int) -> Iterator[Pebble]:
    """Pebble validating HTTP-01 on `http_port` of whatever the names resolve to (127.0.0.1 by default)."""
    workdir.mkdir(parents=True, exist_ok=True)
    ca, cert, key = make_ca_and_leaf(workdir, ["localhost"])
    acme, manage, dns, dns_manage = _free_port(), _free_port(), _free_port(), _free_port()
    config = {"pebble": {"listenAddress": f"127.0.0.1:{acme}", "managementListenAddress": f"127.0.0.1:{manage}",
                         "certificate": str(cert), "privateKey": str(key), "httpPort": http_port,
                         "tlsPort": tls_port, "ocspResponderURL": "", "externalAccountBindingRequired": False}}
    (workdir / "pebble.json").write_text(json.dumps(config))
    env = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0", "PEBBLE_VA_ALWAYS_VALID": "0",
           "PEBBLE_AUTHZREUSE": "0"}
    procs = []
    try:
        with open(workdir / "challtestsrv.log", "wb") as log:
            procs.append(subprocess.Popen(
                ["pebble-challtestsrv", "-dns01", f"127.0.0.1:{dns}", "-management", f"127.0.0.1:{dns_manage}",
                 "-http01", "", "-https01", "", "-tlsalpn01", "", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        with open(workdir / "pebble.log", "wb") as log:
            procs.append(subprocess.Popen(
                ["pebble", "-config", str(workdir / "pebble.json"), "-dnsserver", f"127.0.0.1:{dns}"],
                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True))
        pebble = Pebble(directory=f"https://127.0.0.1:{acme}/dir", api_ca=ca, management=f"https://127.0.0.1:{manage}",
                        dns=f"127.0.0.1:{dns}", dns_management=f"http://127.0.0.1:{dns_manage}", workdir=workdir)
        trust = ssl.create_default_context(cafile=str(ca))
        _wait(lambda: httpx.get(pebble.directory, verify=trust, timeout=1).status_code == 200)
        _wait(lambda: httpx.post(f"{pebble.dns_management}/clear-a", json={"host": "x."}, timeout=1)
              .status_code == 200)
        yield pebble
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait(check, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("pebble did not come up")
        time.sleep(0.1)
