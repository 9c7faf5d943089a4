# The two commands: `make dev` runs cronwright on a local control plane, `make test`
# passes the whole suite. Both install what they need (virtualenv, Python dependencies,
# the control plane, Helm and promtool built from the Go module proxy; for `make test`
# also Debian's Chromium and the test images built with buildah from Debian packages) on
# first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: dev dev-reset dev-cluster test lint format crd controlplane browser images node clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

controlplane: $(INSTALLED)
	$(BIN)/cronwright controlplane-build

# Debian's Chromium for the dashboard's browser tests (tests/cluster/test_dashboard.py,
# driven by Playwright for Python; `playwright install` is never run). Installed with
# apt-get when missing; without root or apt-get this fails naming what to install.
CHROMIUM ?= /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { \
	  command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] || { \
	    echo "make browser: $(CHROMIUM) is missing; install Debian's chromium package (as root: apt-get install chromium)" >&2; exit 1; }; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }
	@test -x $(CHROMIUM) || { echo "make browser: $(CHROMIUM) is still missing after installing chromium" >&2; exit 1; }

# The local cluster's data, the API key and the ports are kept in .cronwright/ across
# restarts; dev-reset deletes them first and starts clean.
dev: controlplane
	$(BIN)/cronwright dev

dev-reset: controlplane
	$(BIN)/cronwright dev --reset


# The real-node tests (tests/realcluster, docs/real-cluster.md): the node's binaries built
# from the Go module proxy and its Debian packages (runc, CNI plugins, iptables) installed
# with apt-get when missing. `make dev` does not need them.
node: $(INSTALLED)
	$(BIN)/cronwright node-build --install-tools

# The pause, test busybox and cronwright images, without Docker (docs/images.md): installs
# buildah, mmdebstrap and busybox-static with apt-get when missing (root), then builds
# what is not cached in ~/.cache/cronwright/images and prints each reference and archive.
images: $(INSTALLED)
	$(BIN)/cronwright image-build --install-tools

# A real single-node cluster (kubelet + containerd in namespaces of its own, no route out)
# with the chart installed from the locally built image, until Ctrl-C; needs root.
# `. .cronwright/cluster-env` in a second shell points kubectl and curl at it.
dev-cluster: controlplane node images
	$(BIN)/cronwright dev-cluster

test: controlplane browser node images
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(INSTALLED)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The chart ships the same CRD files (Helm installs charts/cronwright/crds/ before the
# templates); tests/unit/test_chart_crds.py fails when the two folders differ.
crd: $(INSTALLED)
	$(BIN)/cronwright crd --kind CronJobSpec > crds/cronjobspecs.cronwright.io.yaml
	$(BIN)/cronwright crd --kind CronProject > crds/cronprojects.cronwright.io.yaml
	rm -f charts/cronwright/crds/*.yaml
	cp crds/*.yaml charts/cronwright/crds/

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis .cronwright

# Load benchmarks on a throwaway local control plane, run by hand (never by `make test`;
# about 25 minutes): operator fire skew with 1,000 and 10,000 CronJobSpecs spread over the
# minute, a burst of 1,000 due in the same second, and facade latency with 1,000 jobs.
# Each run replaces its own section of docs/benchmarks.md. See tests/benchmarks/.
.PHONY: bench
bench: controlplane node images
	$(BIN)/python -m tests.benchmarks.bench_operator steady --count 1000 --minutes 2 --write-doc
	$(BIN)/python -m tests.benchmarks.bench_operator burst --count 1000 --write-doc
	$(BIN)/python -m tests.benchmarks.bench_operator steady --count 10000 --minutes 2 --write-doc
	$(BIN)/python -m tests.benchmarks.bench_api --count 1000 --write-doc
	$(BIN)/python -m tests.benchmarks.bench_cronjob_controller --count 500 --write-doc

# Replicas, disruptions and start-up (issue 14; about 30 minutes): two replicas sharing the
# shards, a rolling restart, kill -9 of one replica, the API server down 10 s and 60 s, and
# operator memory / start-up time at 10,000 and 30,000 resources.
.PHONY: bench-resilience
bench-resilience: controlplane
	$(BIN)/python -m tests.benchmarks.bench_resilience steady --count 1000 --replicas 2 --write-doc
	$(BIN)/python -m tests.benchmarks.bench_resilience steady --count 1000 --replicas 2 --disrupt rolling --write-doc
	$(BIN)/python -m tests.benchmarks.bench_resilience steady --count 1000 --replicas 2 --disrupt kill9 --write-doc
	$(BIN)/python -m tests.benchmarks.bench_resilience steady --count 1000 --disrupt apiserver:10 --write-doc
	$(BIN)/python -m tests.benchmarks.bench_resilience steady --count 1000 --disrupt apiserver:60 --write-doc
	$(BIN)/python -m tests.benchmarks.bench_startup --count 10000 --write-doc
	$(BIN)/python -m tests.benchmarks.bench_startup --count 30000 --write-doc
