# Sourced (never run) by the scripts of this repository: steps that stay
# quiet when they work and show everything they said when they fail.
# shellcheck shell=bash

# quiet CMD [ARG]...: runs CMD with its output held back; if it fails, prints
# that output and the failed command on stderr and returns CMD's status, so
# `set -e` stops the caller with the reason on screen.
quiet() {
  local out rc=0
  out=$("$@" 2>&1) || rc=$?
  if ((rc != 0)); then
    printf '%s\n' "$out" >&2
    echo "${0##*/}: step failed (exit status $rc): $*" >&2
  fi
  return "$rc"
}

# venv_usable DIR: whether DIR is a virtualenv whose interpreter runs pip. A
# probe: its failure is the answer, so its output is not wanted.
venv_usable() {
  [[ -x "$1/bin/python" ]] && "$1/bin/python" -m pip --version >/dev/null 2>&1
}

# ensure_venv DIR [PYTHON]: leaves a working virtualenv at DIR. A half-made
# one (python3 -m venv stops after the interpreter when ensurepip is missing,
# i.e. without Debian's python3-venv) or one whose interpreter is gone is
# removed and made again with PYTHON (default python3), never reused.
ensure_venv() {
  local dir=$1 python=${2:-python3}
  venv_usable "$dir" && return 0
  if [[ -e "$dir" ]]; then
    echo "${0##*/}: $dir is not a working virtualenv (no python that runs pip); making it again" >&2
    rm -rf "$dir"
  fi
  mkdir -p "$(dirname "$dir")"
  quiet "$python" -m venv "$dir"
  venv_usable "$dir" || {
    echo "${0##*/}: $python -m venv made $dir without a working pip (is python3-venv installed?)" >&2
    return 1
  }
}
