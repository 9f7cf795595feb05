#!/usr/bin/env bash
# GAN Clinic's two entry points; each does all set-up it needs on a fresh machine first.
#   bash clinic.sh app    install the runtime requirements, then serve the app on http://localhost:8501
#   bash clinic.sh test   install runtime + test requirements (and Debian's chromium, and iproute2 for
#                         the Ray test's network namespace), run every test of the CI suite (two
#                         pytest-xdist workers: minutes)
#   bash clinic.sh verify the full statistical verification: the claims-marked tests (image demos'
#                         claims on 16 fresh seeds) and python -m demos verify (every claim of every
#                         demo on fresh seeds -> docs/verify.md); about an hour or more on 2 cores
# Extra arguments go to streamlit (app) or pytest (test).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}

pip_install() {  # skip pip when the requirement files have not changed since the last install
  local stamp=".cache/pip-$(cat "$@" requirements.txt | sha1sum | cut -c1-12)"
  if [ ! -f "$stamp" ]; then
    "$PY" -m pip install -q --disable-pip-version-check $(printf -- '-r %s ' "$@")
    mkdir -p .cache && touch "$stamp"
  fi
}

need_chromium() {  # browser tests drive Debian's chromium; Playwright cannot download its own here
  command -v chromium >/dev/null && return
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
}

need_netns_tools() {  # the Ray test keeps its traffic on loopback in a network namespace: unshare + ip
  command -v unshare >/dev/null && command -v ip >/dev/null && return
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq util-linux iproute2 >/dev/null
}

case "${1:-}" in
  app)
    shift; pip_install requirements.txt
    exec "$PY" -m streamlit run app.py --server.headless true --browser.gatherUsageStats false "$@" ;;
  test)
    shift; pip_install requirements-dev.txt; need_chromium; need_netns_tools
    exec "$PY" -m pytest -n "${GAN_CLINIC_TEST_WORKERS:-2}" --dist loadfile "$@" ;;
  verify)
    shift; pip_install requirements-dev.txt
    "$PY" -m pytest --claims -m claims -p no:cacheprovider
    exec "$PY" -m demos verify --seeds 16 --jobs 2 "$@" ;;
  *)
    echo "usage: bash clinic.sh app|test|verify [args]" >&2; exit 2 ;;
esac
