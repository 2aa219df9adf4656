#!/usr/bin/env bash
# Builds the local control plane (kube-apiserver, kube-controller-manager, kubectl, etcd, helm)
# from Go modules pinned by the go.mod/go.sum beside this script and in ../helm.
# Output: $CCLOUD_CONTROLPLANE_BIN, or the user's cache dir keyed by version. A finished build
# leaves a stamp file; a second run with the stamp present does nothing. A lock file beside the
# output folder makes a concurrent run wait for the first one instead of building twice.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
K8S_VERSION=v1.34.1
HELM_VERSION=v3.19.5
cache=${XDG_CACHE_HOME:-$HOME/.cache}
bin=${CCLOUD_CONTROLPLANE_BIN:-$cache/ccloud-operator/controlplane-$K8S_VERSION-helm-$HELM_VERSION}
stamp="$bin/.complete"
say() { printf 'control plane: %s\n' "$*"; }

if [ -f "$stamp" ]; then
  say "cached in $bin"
  exit 0
fi

mkdir -p "$(dirname "$bin")"
if command -v flock >/dev/null; then
  exec 9>>"$bin.lock"
  if ! flock -n 9; then
    say "another build into $bin is running ($(cat "$bin.lock")); waiting for it"
    wait_start=$SECONDS
    flock 9
    say "the other build ended after $((SECONDS - wait_start))s of waiting"
  fi
  echo "pid $$, since $(date +%H:%M:%S)" > "$bin.lock"
  # The run we waited for may have finished the job.
  if [ -f "$stamp" ]; then
    say "cached in $bin"
    exit 0
  fi
else
  say "flock not found: not guarding against a concurrent build"
fi

command -v go >/dev/null || {
  say "Go is required to build it (go 1.24 or newer, https://go.dev/dl/); then run this again" >&2
  exit 1
}
mkdir -p "$bin"
export GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0
minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
# Stamp the version: without it kubectl and the apiserver report v0.0.0-master.
ldflags="-s -w -buildid="
for p in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
  ldflags+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  ldflags+=" -X $p.buildDate=1970-01-01T00:00:00Z"
done
start=$SECONDS
say "building Kubernetes $K8S_VERSION, etcd and Helm $HELM_VERSION from Go modules into $bin"
say "with $(go version | cut -d' ' -f3-), GOCACHE=$(go env GOCACHE), GOMODCACHE=$(go env GOMODCACHE)"
say "a cold build (modules downloaded, nothing compiled yet) takes about 7-12 minutes on 2 cores;"
say "with a warm Go build cache it takes under a minute; later runs reuse the result at once"
cd "$here"
say "[1/3] kube-apiserver, kube-controller-manager, kubectl (the long step; go downloads modules first)"
# One line per downloaded module is noise here: the step line above already says it happens.
quiet() { { grep -v '^go: downloading' || true; } >&2; }
go build -trimpath -tags selinux,notest -ldflags "$ldflags" -o "$bin/" \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kubectl 2> >(quiet)
say "[1/3] done ($((SECONDS - start))s)"
say "[2/3] etcd"
go build -trimpath -ldflags "-s -w -buildid=" -o "$bin/etcd" go.etcd.io/etcd/server/v3 2> >(quiet)
say "[2/3] done ($((SECONDS - start))s)"
say "[3/3] helm"
cd "$here/../helm"
hp=helm.sh/helm/v3
go build -trimpath -ldflags "-s -w -buildid= -X $hp/internal/version.version=$HELM_VERSION \
  -X $hp/pkg/chartutil.k8sVersionMajor=1 -X $hp/pkg/chartutil.k8sVersionMinor=$minor \
  -X $hp/pkg/lint/rules.k8sVersionMajor=1 -X $hp/pkg/lint/rules.k8sVersionMinor=$minor" \
  -o "$bin/helm" $hp/cmd/helm 2> >(quiet)
say "[3/3] done ($((SECONDS - start))s)"

# Refuse to stamp a build whose binaries do not report the pinned versions.
got_kubectl=$("$bin/kubectl" version --client 2>/dev/null | sed -n 's/^Client Version: //p')
got_apiserver=$("$bin/kube-apiserver" --version | sed -n 's/^Kubernetes //p')
got_etcd=$("$bin/etcd" --version | sed -n 's/^etcd Version: //p')
got_helm=$("$bin/helm" version --template '{{.Version}}')
say "built: kube-apiserver $got_apiserver, kubectl $got_kubectl, etcd $got_etcd, helm $got_helm"
if [ "$got_kubectl" != "$K8S_VERSION" ] || [ "$got_apiserver" != "$K8S_VERSION" ] || [ "$got_helm" != "$HELM_VERSION" ]; then
  say "the binaries do not report the pinned versions ($K8S_VERSION, $HELM_VERSION); not marking the build complete" >&2
  exit 1
fi
touch "$stamp"
say "ready in $((SECONDS - start))s: $(du -sh "$bin" | cut -f1) in $bin"
