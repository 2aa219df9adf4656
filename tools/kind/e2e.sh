#!/usr/bin/env bash
# The demo's end-to-end flow on kind, for machines with Docker: build the operator's image (the
# repository's Dockerfile) and the emulator's, load both into a kind cluster, run the emulator there,
# install the chart, apply examples/ and wait until every resource is Ready.
#
#   tools/kind/e2e.sh            # needs docker, kind, kubectl and helm on PATH
#   KEEP=1 tools/kind/e2e.sh     # leave the cluster running afterwards (kind delete cluster --name ccloud)
set -euo pipefail
cd "$(dirname "$0")/../.."
cluster=${CLUSTER:-ccloud}
say() { printf '==> %s\n' "$*"; }
for tool in docker kind kubectl helm; do
  command -v "$tool" >/dev/null || { echo "e2e.sh needs $tool on PATH" >&2; exit 2; }
done
[ -n "${KEEP:-}" ] || trap 'kind delete cluster --name "$cluster"' EXIT

say "Images: ccloud-operator:dev and ccloud-emulator:dev"
docker build -t ccloud-operator:dev .
docker build -t ccloud-emulator:dev -f tools/kind/emulator.Dockerfile .

say "Cluster: kind $cluster"
kind get clusters | grep -qx "$cluster" || kind create cluster --name "$cluster" --wait 120s
kubectl config use-context "kind-$cluster"
kind load docker-image --name "$cluster" ccloud-operator:dev ccloud-emulator:dev

say "Emulator, with a Cloud API key made here (its secret is never printed)"
key=EMUKEY$(head -c 5 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F)
secret=$(head -c 32 /dev/urandom | base64 | tr -d '/+=\n')
kubectl apply -f tools/kind/emulator.yaml
kubectl -n ccloud-emulator create secret generic ccloud-emulator-key \
  --from-literal=apiKey="$key" --from-literal=apiSecret="$secret" --dry-run=client -o yaml | kubectl apply -f -
kubectl -n ccloud-emulator rollout status deployment/ccloud-emulator --timeout=120s
# The environment and cluster examples/ name, through the emulator's admin API.
kubectl -n ccloud-emulator run seed --rm -i --restart=Never --image=ccloud-emulator:dev --image-pull-policy=Never \
  --command -- python -c '
import httpx
base = "http://ccloud-emulator:8080/_emulator"
httpx.post(f"{base}/environments", json={"id": "env-demo01", "display_name": "demo"}).raise_for_status()
httpx.post(f"{base}/kafka-clusters", json={"id": "lkc-demo01", "environment_id": "env-demo01", "display_name": "demo"}).raise_for_status()'

say "Operator: helm install from helm/ccloud-operator"
helm upgrade --install ccloud-operator helm/ccloud-operator -n ccloud-operator --create-namespace --wait \
  --set image.repository=ccloud-operator --set image.tag=dev --set image.pullPolicy=Never \
  --set apiUrl=http://ccloud-emulator.ccloud-emulator:8080

say "Examples: applied, with the emulator's key and its archive server"
for f in examples/*.yaml; do printf '%s\n---\n' "$(cat "$f")"; done \
  | sed -e "s|REPLACE_WITH_CLOUD_API_KEY|$key|" -e "s|REPLACE_WITH_CLOUD_API_SECRET|$secret|" \
        -e "s|https://artifacts.example.com|http://ccloud-emulator.ccloud-emulator:8000|" \
  | kubectl apply -f -
kubectl wait --for=condition=Ready --timeout=300s -n team-a $(kubectl get ccloud -n team-a -o name)
kubectl get ccloud -A
say "Every example is Ready"
