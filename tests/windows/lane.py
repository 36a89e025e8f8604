"""Host-side steps of the Windows lane (tests/windows/run.sh), run by the Linux Python.

    lane.py deb-src SOURCES          print one deb-src line derived from the machine's apt sources
    lane.py mirror SOURCES           print the archive URI and keyring of the machine's apt sources
    lane.py emit OUT.c               write cffi's C for tcptable._native; print the compile inputs
    lane.py wheel PYD DIST           build the win_amd64 abi3 wheel around PYD; print its path

Run from the repository root: build_ffi.py is imported from there, so the lane compiles the
same declarations and shim sources as the Linux build.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import sys
import tempfile
import zipfile

WHEEL_TAG = "cp39-abi3-win_amd64"


def deb822_stanzas(text: str) -> list[dict[str, str]]:
    """The stanzas of a deb822 sources file, field names lower-cased, comments dropped."""
    stanzas = []
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line:
                continue
            key, value = line.split(":", 1)
            fields[key.strip().lower()] = value.strip()
        stanzas.append(fields)
    return stanzas


def mirror(path: str) -> str:
    """The URI of the machine's main archive (not its security archive) and the keyring that
    signs it ('-' if none is named), for debootstrap."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    if path.endswith(".sources"):
        for fields in deb822_stanzas(text):
            suites = fields.get("suites", "").split()
            if (
                "deb" in fields.get("types", "").split()
                and fields.get("uris")
                and suites
                and not suites[0].endswith("-security")
            ):
                return f"{fields['uris'].split()[0]} {fields.get('signed-by') or '-'}"
    else:
        for line in text.splitlines():
            words = line.split()
            if words[:1] != ["deb"]:
                continue
            options: list[str] = []
            if len(words) > 1 and words[1].startswith("["):
                end = next(i for i, word in enumerate(words) if word.endswith("]"))
                options = " ".join(words[1 : end + 1]).strip("[]").split()
                words = words[:1] + words[end + 1 :]
            keyring = next((o.split("=", 1)[1] for o in options if o.startswith("signed-by=")), "-")
            if len(words) >= 3 and not words[2].endswith("-security"):
                return f"{words[1]} {keyring}"
    raise SystemExit(f"{path}: no 'deb' entry of the main archive to take a mirror from")


def deb_src(path: str) -> str:
    """The first 'deb' entry of a deb822 sources file (or a one-line list) as a deb-src line."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    if path.endswith(".sources"):
        for fields in deb822_stanzas(text):
            if "deb" in fields.get("types", "").split() and fields.get("uris"):
                options = ""
                if fields.get("signed-by"):
                    options = f"[signed-by={fields['signed-by']}] "
                uri = fields["uris"].split()[0]
                suite = fields["suites"].split()[0]
                return f"deb-src {options}{uri} {suite} {fields.get('components', 'main')}"
    else:
        for line in text.splitlines():
            if line.startswith("deb "):
                return "deb-src " + line[len("deb ") :]
    raise SystemExit(f"{path}: no 'deb' entry to derive a deb-src line from")


def emit(out: str) -> None:
    """Write the generated C; print SHIM_DIR, include dirs, sources and libraries for run.sh."""
    sys.path.insert(0, os.getcwd())
    import build_ffi

    build_ffi.ffibuilder.emit_c_code(out)
    kwargs = build_ffi.ffibuilder._assigned_source[3]
    if kwargs.get("define_macros"):
        raise SystemExit("build_ffi.py sets define_macros: teach tests/windows/run.sh to pass them")
    for include in kwargs.get("include_dirs", []):
        print(f"include {include}")
    for source in build_ffi.SHIM_SOURCES:
        print(f"source {source}")
    for library in build_ffi.WINDOWS_LIBRARIES:
        print(f"library {library}")


def project_metadata(workdir: str) -> str:
    """The dist-info folder setuptools writes for this project, as the Linux wheel has it."""
    from setuptools import build_meta

    return os.path.join(workdir, build_meta.prepare_metadata_for_build_wheel(workdir))


def wheel(pyd: str, dist: str) -> str:
    """Zip the package files, the module and the dist-info as bdist_wheel lays them out."""
    with tempfile.TemporaryDirectory() as workdir:
        info_dir = project_metadata(workdir)
        info_name = os.path.basename(info_dir)
        name, version = info_name[: -len(".dist-info")].split("-")
        files: list[tuple[str, bytes]] = []
        for entry in sorted(os.listdir("tcptable")):
            if entry.endswith((".py", ".pyi")) or entry == "py.typed":
                with open(os.path.join("tcptable", entry), "rb") as handle:
                    files.append((f"tcptable/{entry}", handle.read()))
        with open(pyd, "rb") as handle:
            files.append(("tcptable/_native.pyd", handle.read()))
        for root, _dirs, names in os.walk(info_dir):
            for entry in sorted(names):
                if entry in ("WHEEL", "RECORD"):
                    continue
                full = os.path.join(root, entry)
                arcname = f"{info_name}/{os.path.relpath(full, info_dir)}".replace(os.sep, "/")
                with open(full, "rb") as handle:
                    files.append((arcname, handle.read()))
        generator = "tcptable-windows-lane (tests/windows/lane.py)"
        wheel_text = (
            f"Wheel-Version: 1.0\nGenerator: {generator}\nRoot-Is-Purelib: false\n"
            f"Tag: {WHEEL_TAG}\n\n"
        )
        files.append((f"{info_name}/WHEEL", wheel_text.encode()))
        record = io.StringIO()
        writer = csv.writer(record, lineterminator="\n")
        for arcname, data in files:
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            writer.writerow([arcname, f"sha256={digest.decode()}", len(data)])
        writer.writerow([f"{info_name}/RECORD", "", ""])
        files.append((f"{info_name}/RECORD", record.getvalue().encode()))

        os.makedirs(dist, exist_ok=True)
        path = os.path.join(dist, f"{name}-{version}-{WHEEL_TAG}.whl")
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for arcname, data in files:
                info = zipfile.ZipInfo(arcname, date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, data)
        return path


def main(argv: list[str]) -> None:
    if len(argv) == 2 and argv[0] == "deb-src":
        print(deb_src(argv[1]))
    elif len(argv) == 2 and argv[0] == "mirror":
        print(mirror(argv[1]))
    elif len(argv) == 2 and argv[0] == "emit":
        emit(argv[1])
    elif len(argv) == 3 and argv[0] == "wheel":
        print(wheel(argv[1], argv[2]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
