#!/usr/bin/env bash
# Creates the virtualenv the local Confidence test backend runs in and installs
# tools/testserver/requirements.txt into it. Idempotent: a venv whose installed
# requirements match the file's hash is left alone.
#
# Usage: tools/testserver/setup.sh          (from any directory)
# Env:   TESTSERVER_VENV  venv location, relative to the repo root unless absolute
#                         (default build/testserver-venv)
#        PYTHON           interpreter used to create the venv (default python3)
# Prints the venv's python path as its last line.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$script_dir/../.." && pwd)"
requirements="$script_dir/requirements.txt"
source "$repo_root/scripts/lib.sh"

venv="${TESTSERVER_VENV:-build/testserver-venv}"
case "$venv" in
  /*) ;;
  *) venv="$repo_root/$venv" ;;
esac
py="$venv/bin/python"
stamp="$venv/.testserver-requirements.sha256"
want="$(sha256sum "$requirements" | cut -d' ' -f1)"

ready() {
  [ -x "$py" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] || return 1
  # The stamp can outlive a broken venv (interpreter upgraded, files removed).
  "$py" -I -c 'import grpc, grpc_tools.protoc, google.protobuf, cryptography' >/dev/null 2>&1
}

if ! ready; then
  # A venv left half-made (no pip) is made again, not reused.
  ensure_venv "$venv" "${PYTHON:-python3}"
  echo "installing $requirements into $venv" >&2
  rm -f "$stamp"
  quiet "$py" -m pip install --disable-pip-version-check -r "$requirements"
  echo "$want" > "$stamp"
fi
echo "$py"
