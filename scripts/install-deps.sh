#!/usr/bin/env bash
# Installs what building, testing and running rgz-backup needs and is not
# already on the machine. Idempotent: a second run changes nothing.
# Pinned versions live here and in docs/DEVELOPMENT.md.
set -euo pipefail

STATICCHECK_VERSION=v0.8.2   # supports the Go of go.mod
# MinIO, the S3 server the tests start on loopback (pinned here).
# Built from source: about 5 minutes on a cold build cache, once.
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
# Mailpit, the SMTP server the notification tests read through its API.
MAILPIT_VERSION=v1.27.11
# age, the CLI an operator decrypts backups with by hand (docs/RESTORE.md);
# the same module version as the library in go.mod.
AGE_VERSION=v1.3.2
# Azurite, the Azure Storage emulator the Azure Blob destination's tests
# start on loopback (npm, with the machine's Node.js).
AZURITE_VERSION=3.37.0
# nfpm builds the Debian packages (make package).
NFPM_VERSION=v2.45.2
# zitadel/oidc's example OpenID provider, the one the single sign-on tests
# log in through (its binary is "server": installed as zitadel-oidc-op).
OIDC_OP_VERSION=v3.52.0

log() { echo "install-deps: $*"; }

# Go comes with the machine image; it cannot be fetched here.
if ! command -v go >/dev/null; then
  export PATH="/usr/local/go/bin:$PATH"
  command -v go >/dev/null || { log "Go is missing (need the version in go.mod); install it first"; exit 1; }
fi

# Debian packages: PostgreSQL (server for the tests' throwaway clusters,
# client programs pg_dump/pg_restore/pg_dumpall, contrib for amcheck), and
# the small tools the tests and operators use.
need_apt=()
have_pg_bin() { ls /usr/lib/postgresql/*/bin/"$1" >/dev/null 2>&1 || command -v "$1" >/dev/null; }
have_pg_bin initdb     || need_apt+=(postgresql)
have_pg_bin pg_dump    || need_apt+=(postgresql-client)
ls /usr/lib/postgresql/*/lib/amcheck.so >/dev/null 2>&1 || need_apt+=(postgresql-contrib)
command -v bzip2 >/dev/null    || need_apt+=(bzip2)
command -v flock >/dev/null && command -v prlimit >/dev/null || need_apt+=(util-linux)
command -v sha256sum >/dev/null || need_apt+=(coreutils)
command -v promtool >/dev/null || need_apt+=(prometheus)   # promtool: the alert rules' unit tests
[ -x /usr/sbin/sshd ] || need_apt+=(openssh-server)         # the SFTP destination's tests start their own sshd
command -v ssh-keygen >/dev/null || need_apt+=(openssh-client)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)           # the console's browser tests (chromedp, headless)
command -v systemd-analyze >/dev/null || need_apt+=(systemd)  # the package's units: verify, security score
command -v debootstrap >/dev/null || need_apt+=(debootstrap)   # make package-test: a fresh Debian root,
command -v systemd-nspawn >/dev/null || need_apt+=(systemd-container)  # booted with systemd in it
command -v lintian >/dev/null || need_apt+=(lintian)           # make package-test: Debian's package checker,
command -v qemu-aarch64 >/dev/null || need_apt+=(qemu-user)    # and the arm64 binary run under emulation
[ -f /usr/share/keyrings/debian-archive-keyring.gpg ] || need_apt+=(debian-archive-keyring)
[ -x /usr/bin/aws ] || need_apt+=(awscli)                      # docs/RESTORE.md's fetch from S3 by hand, run by a test
[ -x /usr/bin/python3 ] || need_apt+=(python3)                 # the by-hand restore script's row counts
command -v pigz >/dev/null || need_apt+=(pigz)                 # make bench: gzip-9 against pg_dump | pigz -9
# make image-test: podman, rootful, with Debian's runc (crun refuses this
# machine's hybrid cgroups), and podman-compose for deploy/compose; pinned.
for pin in podman=4.3.1+ds1-8+deb12u1+b3 runc=1.1.5+ds1-1+deb12u1 podman-compose=1.0.3-3 netavark=1.4.0-3 aardvark-dns=1.4.0-3 catatonit=0.1.7-1+b2; do
  dpkg-query -W -f='${Version}' "${pin%%=*}" 2>/dev/null | grep -qx "${pin#*=}" || need_apt+=("$pin")
done
command -v iptables >/dev/null || need_apt+=(iptables)          # netavark's bridge network
command -v gpgv >/dev/null || need_apt+=(gpgv)                  # make image: the update suites' signed indexes
command -v xz >/dev/null || need_apt+=(xz-utils)
dpkg-query -W -f='${Version}' pgbackrest 2>/dev/null | grep -qx '2.45-1' || need_apt+=(pgbackrest=2.45-1)  # bench -pitr: the peer
if [ ${#need_apt[@]} -gt 0 ]; then
  log "apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
id postgres >/dev/null 2>&1 || { log "the postgres user is missing although PostgreSQL is installed"; exit 1; }

# Go tools, pinned.
gobin="$(go env GOPATH)/bin"
if ! "$gobin/staticcheck" -version 2>/dev/null | grep -q "${STATICCHECK_VERSION#v}"; then
  log "go install staticcheck ${STATICCHECK_VERSION}"
  go install "honnef.co/go/tools/cmd/staticcheck@${STATICCHECK_VERSION}"
fi

# `nfpm --version` of a `go install` says "dev": a marker names the version.
if [ ! -x "$gobin/nfpm" ] || [ "$(cat "$gobin/.nfpm-version" 2>/dev/null)" != "$NFPM_VERSION" ]; then
  log "go install nfpm ${NFPM_VERSION}"
  go install "github.com/goreleaser/nfpm/v2/cmd/nfpm@${NFPM_VERSION}"
  echo "$NFPM_VERSION" > "$gobin/.nfpm-version"
fi

# `minio --version` does not name the commit of a `go install`: a marker does.
if [ ! -x "$gobin/minio" ] || [ "$(cat "$gobin/.minio-version" 2>/dev/null)" != "$MINIO_VERSION" ]; then
  log "go install minio ${MINIO_VERSION} (slow: a large build)"
  go install "github.com/minio/minio@${MINIO_VERSION}"
  echo "$MINIO_VERSION" > "$gobin/.minio-version"
fi

if ! "$gobin/age" --version 2>/dev/null | grep -q "${AGE_VERSION}"; then
  log "go install age ${AGE_VERSION}"
  go install "filippo.io/age/cmd/age@${AGE_VERSION}" "filippo.io/age/cmd/age-keygen@${AGE_VERSION}"
fi

azurite_dir="$(go env GOPATH)/azurite"
if [ "$(cat "$azurite_dir/.version" 2>/dev/null)" != "$AZURITE_VERSION" ]; then
  command -v npm >/dev/null || { log "npm is missing (Node.js comes with the machine image)"; exit 1; }
  log "npm install azurite@${AZURITE_VERSION}"
  mkdir -p "$azurite_dir"
  npm install --silent --no-audit --no-fund --prefix "$azurite_dir" "azurite@${AZURITE_VERSION}" >/dev/null
  ln -sf "$azurite_dir/node_modules/.bin/azurite-blob" "$gobin/azurite-blob"
  echo "$AZURITE_VERSION" > "$azurite_dir/.version"
fi

if [ ! -x "$gobin/mailpit" ] || [ "$(cat "$gobin/.mailpit-version" 2>/dev/null)" != "$MAILPIT_VERSION" ]; then
  log "go install mailpit ${MAILPIT_VERSION}"
  go install "github.com/axllent/mailpit@${MAILPIT_VERSION}"
  echo "$MAILPIT_VERSION" > "$gobin/.mailpit-version"
fi

if [ ! -x "$gobin/zitadel-oidc-op" ] || [ "$(cat "$gobin/.zitadel-oidc-op-version" 2>/dev/null)" != "$OIDC_OP_VERSION" ]; then
  log "go install zitadel/oidc's example OpenID provider ${OIDC_OP_VERSION}"
  op_bin="$(mktemp -d)"
  GOBIN="$op_bin" go install "github.com/zitadel/oidc/v3/example/server@${OIDC_OP_VERSION}"
  mv "$op_bin/server" "$gobin/zitadel-oidc-op"
  rmdir "$op_bin"
  echo "$OIDC_OP_VERSION" > "$gobin/.zitadel-oidc-op-version"
fi

go mod download
log "ok"
