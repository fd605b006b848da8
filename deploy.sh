#!/usr/bin/env bash
# Deploy every Cloud Function (gen2) of functions/ with gcloud: entry point, trigger, runtime
# service account, Google-backend environment and a source bundle staged per function
# (its main.py at the root, plus shared/, configs/ and requirements.txt; no tests, no terraform).
#
# Terraform (terraform/) creates the project resources and the service accounts first;
# this script redeploys code quickly. `gcloud functions deploy` creates or updates, so
# running it twice is safe.
#
# Usage: ./deploy.sh [--dry-run] [--only NAME]...
# Settings (environment):
#   PROJECT, REGION                required
#   KMS_KEY_NAME                   default projects/$PROJECT/locations/$REGION/keyRings/$KMS_KEY_RING/cryptoKeys/$KMS_KEY
#   KMS_KEY_RING, KMS_KEY          default integrations, credentials
#   PUBSUB_TOPIC                   default integration-validation
#   STATUS_EVENTS_TOPIC            default integration-status-events
#   BQ_DATASET                     default organizations
#   LOG_LEVEL, CORS_ORIGINS        default INFO, empty (comma-separated origins)
#   VALIDATOR_MAX_DELIVERIES       default 5
#   AWS_PLATFORM_ROLE_ARN          default empty (no AWS validation); the platform's AWS role (docs/deploy.md)
#   EXPIRY_WARNING_DAYS            default 14 (days before a credential's expires_at it is warned about)
#   AZURE_AUTHORITY_HOST           default https://login.microsoftonline.com
#   AZURE_MANAGEMENT_URL           default https://management.azure.com
#   MAX_INSTANCES                  default 10
#   GCLOUD                         gcloud binary, default gcloud
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dry_run=0
only=()

die() {
  echo "deploy.sh: $*" >&2
  exit 1
}

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

while [ "$#" -gt 0 ]; do
  case "$1" in
    --dry-run) dry_run=1 ;;
    --only)
      [ "$#" -ge 2 ] || die "--only needs a function name"
      only+=("$2")
      shift
      ;;
    --only=*) only+=("${1#--only=}") ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
  shift
done

# --- settings --------------------------------------------------------------------------
missing=()
[ -n "${PROJECT:-}" ] || missing+=(PROJECT)
[ -n "${REGION:-}" ] || missing+=(REGION)
[ "${#missing[@]}" -eq 0 ] || die "missing setting(s): ${missing[*]} (export them, e.g. PROJECT=my-project REGION=europe-west1 ./deploy.sh)"

[[ "$PROJECT" =~ ^[a-z][a-z0-9-]{4,28}[a-z0-9]$ ]] || die "PROJECT is not a valid project id: $PROJECT"
[[ "$REGION" =~ ^[a-z]+-[a-z]+[0-9]$ ]] || die "REGION is not a valid region: $REGION"

KMS_KEY_NAME="${KMS_KEY_NAME:-projects/$PROJECT/locations/$REGION/keyRings/${KMS_KEY_RING:-integrations}/cryptoKeys/${KMS_KEY:-credentials}}"
PUBSUB_TOPIC="${PUBSUB_TOPIC:-integration-validation}"
STATUS_EVENTS_TOPIC="${STATUS_EVENTS_TOPIC:-integration-status-events}"
BQ_DATASET="${BQ_DATASET:-organizations}"
LOG_LEVEL="${LOG_LEVEL:-INFO}"
CORS_ORIGINS="${CORS_ORIGINS:-}"
VALIDATOR_MAX_DELIVERIES="${VALIDATOR_MAX_DELIVERIES:-5}"
AWS_PLATFORM_ROLE_ARN="${AWS_PLATFORM_ROLE_ARN:-}"
EXPIRY_WARNING_DAYS="${EXPIRY_WARNING_DAYS:-14}"
AZURE_AUTHORITY_HOST="${AZURE_AUTHORITY_HOST:-https://login.microsoftonline.com}"
AZURE_MANAGEMENT_URL="${AZURE_MANAGEMENT_URL:-https://management.azure.com}"
MAX_INSTANCES="${MAX_INSTANCES:-10}"
GCLOUD="${GCLOUD:-gcloud}"

[[ "$KMS_KEY_NAME" =~ ^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$ ]] ||
  die "KMS_KEY_NAME must be a full crypto key name (projects/P/locations/L/keyRings/R/cryptoKeys/K)"
case "$LOG_LEVEL" in DEBUG | INFO | WARNING | ERROR) ;; *) die "LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR" ;; esac
[[ "$CORS_ORIGINS" != *"|"* ]] || die "CORS_ORIGINS must not contain '|'"
[ -z "$AWS_PLATFORM_ROLE_ARN" ] || [[ "$AWS_PLATFORM_ROLE_ARN" =~ ^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,576}$ ]] ||
  die "AWS_PLATFORM_ROLE_ARN must be an IAM role ARN: arn:aws:iam::<12 digits>:role/<name>"
[[ "$EXPIRY_WARNING_DAYS" =~ ^[1-9][0-9]{0,2}$ ]] && [ "$EXPIRY_WARNING_DAYS" -le 365 ] ||
  die "EXPIRY_WARNING_DAYS must be a whole number from 1 to 365"
for url_var in AZURE_AUTHORITY_HOST AZURE_MANAGEMENT_URL; do
  [[ "${!url_var}" =~ ^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?$ ]] || die "$url_var must be an https:// root URL"
done

if [ "$dry_run" = 0 ]; then
  command -v "$GCLOUD" >/dev/null 2>&1 ||
    die "gcloud CLI not found ($GCLOUD); install the Google Cloud SDK or set GCLOUD"
fi

# --- functions -------------------------------------------------------------------------
all_functions=()
for main in "$repo_root"/functions/*/main.py; do
  [ -e "$main" ] || continue
  name="$(basename "$(dirname "$main")")"
  all_functions+=("$name")
done
[ "${#all_functions[@]}" -gt 0 ] || die "no functions found under functions/*/main.py"

selected=()
if [ "${#only[@]}" -eq 0 ]; then
  selected=("${all_functions[@]}")
else
  for name in "${only[@]}"; do
    [ -f "$repo_root/functions/$name/main.py" ] ||
      die "--only $name: no such function (known: ${all_functions[*]})"
    selected+=("$name")
  done
fi

# Same derivations as terraform/locals.tf and iam.tf.
service_account() { echo "fn-${1//_/-}@${PROJECT}.iam.gserviceaccount.com"; }
trigger_service_account="integrations-trigger@${PROJECT}.iam.gserviceaccount.com"
dead_letter_topic="${PUBSUB_TOPIC}-dead-letter"

# gcloud splits --set-env-vars on commas; CORS_ORIGINS holds commas, so use '|' (gcloud topic escaping).
env_vars="^|^STORE_BACKEND=bigquery|KMS_BACKEND=gcp|KMS_KEY_NAME=${KMS_KEY_NAME}|QUEUE_BACKEND=pubsub"
env_vars+="|PUBSUB_TOPIC=${PUBSUB_TOPIC}|STATUS_EVENTS_TOPIC=${STATUS_EVENTS_TOPIC}|GCP_PROJECT=${PROJECT}"
env_vars+="|BQ_DATASET=${BQ_DATASET}|LOG_LEVEL=${LOG_LEVEL}|CORS_ORIGINS=${CORS_ORIGINS}"
env_vars+="|VALIDATOR_MAX_DELIVERIES=${VALIDATOR_MAX_DELIVERIES}|AWS_PLATFORM_ROLE_ARN=${AWS_PLATFORM_ROLE_ARN}"
env_vars+="|VALIDATOR_MAX_DELIVERIES=${VALIDATOR_MAX_DELIVERIES}|EXPIRY_WARNING_DAYS=${EXPIRY_WARNING_DAYS}"
env_vars+="|AZURE_AUTHORITY_HOST=${AZURE_AUTHORITY_HOST}|AZURE_MANAGEMENT_URL=${AZURE_MANAGEMENT_URL}"

run() {
  if [ "$dry_run" = 1 ]; then
    printf '%q ' "$@" | sed 's/ $//'
    printf '\n'
  else
    "$@"
  fi
}

staging_root=""
cleanup() { [ -z "$staging_root" ] || rm -rf "$staging_root"; }
trap cleanup EXIT

# Copy one function's bundle into its own directory; prints the directory.
stage() {
  local name="$1" dir
  dir="$staging_root/$name"
  mkdir -p "$dir"
  tar -C "$repo_root/functions/$name" --exclude=__pycache__ --exclude='*.pyc' \
    --exclude='tests' --exclude='test_*' -cf - . | tar -C "$dir" -xf -
  tar -C "$repo_root" --exclude=__pycache__ --exclude='*.pyc' \
    -cf - shared configs requirements.txt | tar -C "$dir" -xf -
  echo "$dir"
}

if [ "$dry_run" = 1 ]; then
  staging_root="${TMPDIR:-/tmp}/integrations-deploy"
else
  staging_root="$(mktemp -d "${TMPDIR:-/tmp}/integrations-deploy.XXXXXX")"
fi

for name in "${selected[@]}"; do
  if [ "$dry_run" = 1 ]; then
    source_dir="$staging_root/$name"
    echo "# stage functions/$name/ + shared/ configs/ requirements.txt -> $source_dir"
  else
    source_dir="$(stage "$name")"
  fi

  args=(functions deploy "$name" --gen2 --runtime=python311 --project="$PROJECT" --region="$REGION"
    --entry-point="$name" --source="$source_dir" --service-account="$(service_account "$name")"
    --set-env-vars="$env_vars" --memory=256Mi --max-instances="$MAX_INSTANCES" --quiet)
  if [ "$name" = validate_credential ]; then
    args+=(--trigger-topic="$PUBSUB_TOPIC" --trigger-location="$REGION"
      --trigger-service-account="$trigger_service_account" --retry
      --ingress-settings=internal-only --timeout=300s)
  else
    args+=(--trigger-http --no-allow-unauthenticated --ingress-settings=all --timeout=60s)
  fi
  echo "deploy.sh: deploying $name" >&2
  run "$GCLOUD" "${args[@]}"

  if [ "$name" = validate_credential ]; then
    # Eventarc's subscription gets its dead-letter policy from the same script Terraform runs.
    if [ "$dry_run" = 1 ]; then
      run "$GCLOUD" functions describe "$name" --gen2 --project="$PROJECT" --region="$REGION" \
        --format='value(eventTrigger.trigger)'
      trigger="<trigger of $name>"
    else
      trigger="$("$GCLOUD" functions describe "$name" --gen2 --project="$PROJECT" --region="$REGION" \
        --format='value(eventTrigger.trigger)')"
    fi
    PROJECT="$PROJECT" REGION="$REGION" TRIGGER="$trigger" DEAD_LETTER_TOPIC="$dead_letter_topic" \
      MAX_DELIVERIES="$VALIDATOR_MAX_DELIVERIES" DRY_RUN="$dry_run" GCLOUD="$GCLOUD" \
      "$repo_root/terraform/scripts/wire_dead_letter.sh"
  fi
done

echo "deploy.sh: done (${#selected[@]} function(s)$([ "$dry_run" = 1 ] && echo ', dry run: nothing was run'))" >&2
