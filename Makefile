# rgz-backup — see README.md. `make test` is what CI runs (after `make lint`).
GO      ?= go
GOBIN   := $(shell $(GO) env GOPATH)/bin
BIN     := bin/rgz-backup

.PHONY: build package package-test image image-test test lint demo screenshots bench deps clean

# The build's identity (internal/version): the tag or "devel", the commit,
# the commit's date (reproducible: not the clock's).
VERSION ?= $(shell git describe --tags --exact-match 2>/dev/null || echo devel)
COMMIT  ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null)
DATE    ?= $(shell git log -1 --format=%cI 2>/dev/null)
VPKG    := github.com/mosaique/rgz-backup/internal/version
LDFLAGS := -X $(VPKG).version=$(VERSION) -X $(VPKG).commit=$(COMMIT) -X $(VPKG).date=$(DATE)

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/rgz-backup

# The Debian packages (docs/INSTALL.md): amd64 and arm64, cross-compiled,
# into dist/. A Debian version starts with a digit: a build that is not a
# tag is 0.0.0~devel+COMMIT (sorts before any release).
DEB_VERSION ?= $(shell v=$$(git describe --tags --exact-match 2>/dev/null); [ -n "$$v" ] && echo "$${v#v}" || echo "0.0.0~devel+$(COMMIT)")
ARCHES      ?= amd64 arm64
DIST        ?= dist
NFPM_CONFIG ?= deploy/debian/nfpm.yaml
DEB_MAINTAINER := MOSAÏQUE platform ops <ops@mosaique.example>

package: deps
	mkdir -p $(DIST) bin/package
	rm -rf bin/package/man
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/rgz-backup man bin/package/man
	$(GO) run ./cmd/rgz-backup completion bash > bin/package/rgz-backup.bash
	printf 'rgz-backup (%s) stable; urgency=medium\n\n  * Built from commit %s; the changes are in the repository'"'"'s history.\n\n -- %s  %s\n' \
	  "$(DEB_VERSION)" "$(COMMIT)" "$(DEB_MAINTAINER)" "$$(git log -1 --format=%cD)" | gzip -9n > bin/package/changelog.gz
	for arch in $(ARCHES); do \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)" -o bin/package/rgz-backup ./cmd/rgz-backup && \
	  VERSION="$(DEB_VERSION)" GOARCH=$$arch $(GOBIN)/nfpm pkg --config $(NFPM_CONFIG) --packager deb --target $(DIST)/ || exit 1; \
	done

# lintian on both packages, then the amd64 one's life in a fresh Debian
# bookworm booted with systemd (debootstrap, systemd-nspawn; as root):
# install, configure, back up, run the daemon, upgrade, remove, purge
# (deploy/debian/install_test.go, docs/INSTALL.md). Run by .ci/run, outside
# `make test`: about a minute once debootstrap's downloads are cached.
package-test: package
	$(GO) test -tags debinstall -count=1 -v -timeout 30m ./deploy/debian/ \
	  -args -deb "$(abspath $(DIST))/rgz-backup_$(DEB_VERSION)_amd64.deb" -version "$(DEB_VERSION)"

# The container images (docs/CONTAINER.md): one per PostgreSQL major
# (Debian bookworm gives 15, trixie 17) and architecture, from Debian's
# packages (debootstrap --download-only; no image registry), written as
# reproducible OCI archives dist/rgz-backup_VERSION-pgN_ARCH.oci.tar with
# their digests beside them: `podman load -i` one.
IMAGE_VERSION ?= $(shell v=$$(git describe --tags --exact-match 2>/dev/null); [ -n "$$v" ] && echo "$${v#v}" || echo "devel")
IMAGE_SUITES  ?= bookworm trixie

image: deps
	mkdir -p $(DIST)
	for arch in $(ARCHES); do \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$$arch $(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)" -o bin/linux_$$arch/rgz-backup ./cmd/rgz-backup || exit 1; \
	  for suite in $(IMAGE_SUITES); do \
	    $(GO) run ./deploy/container/build -suite $$suite -arch $$arch -binary bin/linux_$$arch/rgz-backup \
	      -version "$(IMAGE_VERSION)" -revision "$(COMMIT)" -created "$(DATE)" -dist $(DIST) || exit 1; \
	  done; \
	done

# The images run by podman (rootful, Debian's runc) against PostgreSQL
# clusters on the host, and the compose file brought up by podman-compose
# (deploy/container/image_test.go). Run by .ci/run, outside `make test`.
image-test: image
	$(GO) test -tags imagetest -count=1 -v -timeout 30m ./deploy/container/ \
	  -args -dist "$(abspath $(DIST))" -version "$(IMAGE_VERSION)"

deps:
	bash scripts/install-deps.sh

# The whole suite, against real PostgreSQL clusters (and MinIO, Mailpit)
# the tests start, then the alert rules' unit tests. The install script runs
# first (quick when everything is there), so that a fresh machine needs
# nothing else. Many tests wait on child processes (the daemon's slots and
# retries, sshd, Azurite): -parallel 8 runs more of them than the machine
# has cores. -p 2: one test binary per core; on a machine where starting a
# process is slow (5 ms for /bin/true), more side by side made the daemons'
# timing tests and Azurite's start miss their bounds. -ldflags="-s -w": the test binaries carry no symbol table nor
# DWARF (nothing reads them, and linking ~40 binaries is an eighth of the
# suite's CPU). -trimpath: the compiled packages do not depend on where the
# checkout is, so a fresh clone reuses what an earlier one compiled. See
# docs/DEVELOPMENT.md, "Tests".
test: deps
	$(GO) test -count=1 -trimpath -ldflags="-s -w" -p 2 -parallel 8 -timeout 30m ./...
	promtool test rules deploy/prometheus/*test*.yml

lint: deps
	@unformatted="$$(gofmt -l $$(git ls-files '*.go'))"; \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet -tags debinstall,imagetest ./...
	$(GOBIN)/staticcheck -tags debinstall,imagetest ./...

# A throwaway PostgreSQL with a MOSAÏQUE-like database, one backup with
# progress, its verification and its report.
demo: deps build
	$(GO) run ./demo --binary $(BIN)

# The README's and docs/CONSOLE.md's pictures, from a daemon with 90 days
# of history over three databases and a streaming archive (demo/).
screenshots: deps build
	$(GO) run ./demo --binary $(BIN) --screenshots docs/img

# See docs/BENCHMARKS.md. SCALE=320 is the ~550 MB database (549 MB on 2026-12-06).
SCALE ?= 320
bench: build
	$(GO) run ./bench --binary $(BIN) --scale $(SCALE)

clean:
	rm -rf bin .demo dist
