#!/usr/bin/env bash
# Run intelligent_agent.platform.deploy the way build-deploy.yml does: the images built once by the build job, by
# digest, no image build, the production confirmation given by the workflow (its GitHub environment holds the
# approval). Inputs (environment):
#   PLATFORM_ENVIRONMENT          staging or production (names the vault identity)
#   PLATFORM_INVENTORY            the environment's inventory folder
#   PLATFORM_VERSION              release version (platform_version)
#   PLATFORM_IMAGES               JSON object component -> <registry>/<name>@sha256:<digest>
#   PLATFORM_KUBECONFIG           path of the deployer's kubeconfig
#   PLATFORM_COMMIT               optional: source commit (the collection reads no git checkout then)
#   PLATFORM_VAULT_PASSWORD_FILE  optional: file with the inventory's vault password
#   PLATFORM_PREVIEW              optional: true runs --check --diff (changes nothing)
#   PLATFORM_WAIT_TIMEOUT         optional: rollout timeout in seconds (default 600)
#   PLATFORM_BACKUP_DIR           optional: where the live manifests are saved before the release
set -euo pipefail
: "${PLATFORM_ENVIRONMENT:?set PLATFORM_ENVIRONMENT (staging or production)}"
: "${PLATFORM_INVENTORY:?set PLATFORM_INVENTORY to the environment inventory folder}"
: "${PLATFORM_VERSION:?set PLATFORM_VERSION to the release version}"
: "${PLATFORM_IMAGES:?set PLATFORM_IMAGES to the JSON object component -> image@sha256:digest of the build job}"
: "${PLATFORM_KUBECONFIG:?set PLATFORM_KUBECONFIG to the kubeconfig file}"

# The images must be pinned by digest: a tag could move between the build and the deploy.
images=$(jq -c '{platform_images: .}' <<<"$PLATFORM_IMAGES") || {
  echo "PLATFORM_IMAGES is not a JSON object: pass the build job's images output" >&2
  exit 1
}
unpinned=$(jq -r 'to_entries[] | select((.value | type) != "string" or (.value | test("@sha256:[0-9a-f]{64}$") | not)) | .key' \
  <<<"$PLATFORM_IMAGES")
if [[ -n $unpinned ]]; then
  echo "PLATFORM_IMAGES: not an image reference by digest (<repository>@sha256:<64 hex>) for: $unpinned" >&2
  exit 1
fi

args=(
  intelligent_agent.platform.deploy
  -i "$PLATFORM_INVENTORY"
  -e "platform_version=$PLATFORM_VERSION"
  -e image_build=false
  -e "$images"
  -e deploy_confirm=true
  -e "platform_kubeconfig=$PLATFORM_KUBECONFIG"
  -e "release_wait_timeout=${PLATFORM_WAIT_TIMEOUT:-600}"
)
if [[ -n ${PLATFORM_COMMIT:-} ]]; then
  args+=(-e "platform_commit=$PLATFORM_COMMIT")
fi
if [[ -n ${PLATFORM_BACKUP_DIR:-} ]]; then
  mkdir -p "$PLATFORM_BACKUP_DIR"
  args+=(-e "platform_backup_dir=$PLATFORM_BACKUP_DIR")
fi
if [[ -n ${PLATFORM_VAULT_PASSWORD_FILE:-} ]]; then
  args+=(--vault-id "$PLATFORM_ENVIRONMENT@$PLATFORM_VAULT_PASSWORD_FILE")
fi
if [[ ${PLATFORM_PREVIEW:-false} == true ]]; then
  args+=(--check --diff)
fi
printf 'ansible-playbook'
printf ' %q' "${args[@]}"
printf '\n'
exec ansible-playbook "${args[@]}"
