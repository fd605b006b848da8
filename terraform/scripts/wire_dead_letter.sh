#!/usr/bin/env bash
# Attach the dead-letter policy to the Pub/Sub subscription that Eventarc created for the
# validator's trigger (Eventarc has no setting for it). Idempotent: safe to run again.
# Called by terraform (pubsub.tf) and by deploy.sh.
#
# Environment: PROJECT, REGION, TRIGGER (trigger name or full id), DEAD_LETTER_TOPIC,
# MAX_DELIVERIES (5-100), GCLOUD (default gcloud). DRY_RUN=1 prints the commands instead of running them.
set -euo pipefail

: "${PROJECT:?PROJECT is required}"
: "${REGION:?REGION is required}"
: "${TRIGGER:?TRIGGER is required (Eventarc trigger of the validator)}"
: "${DEAD_LETTER_TOPIC:?DEAD_LETTER_TOPIC is required}"
MAX_DELIVERIES="${MAX_DELIVERIES:-5}"
GCLOUD="${GCLOUD:-gcloud}"

run() {
  if [ "${DRY_RUN:-0}" = 1 ]; then
    printf '%q ' "$@" | sed 's/ $//'
    printf '\n'
  else
    "$@"
  fi
}

if [ "${DRY_RUN:-0}" != 1 ] && ! command -v "$GCLOUD" >/dev/null 2>&1; then
  echo "wire_dead_letter.sh: gcloud CLI not found ($GCLOUD)" >&2
  exit 1
fi

trigger_name="${TRIGGER##*/}"
if [ "${DRY_RUN:-0}" = 1 ]; then
  run "$GCLOUD" eventarc triggers describe "$trigger_name" --project="$PROJECT" --location="$REGION" \
    --format='value(transport.pubsub.subscription)'
  subscription="<subscription of trigger $trigger_name>"
else
  subscription="$("$GCLOUD" eventarc triggers describe "$trigger_name" --project="$PROJECT" \
    --location="$REGION" --format='value(transport.pubsub.subscription)')"
fi
if [ -z "$subscription" ]; then
  echo "wire_dead_letter.sh: trigger $trigger_name has no Pub/Sub subscription" >&2
  exit 1
fi

project_number="${PROJECT_NUMBER:-}"
if [ -z "$project_number" ]; then
  if [ "${DRY_RUN:-0}" = 1 ]; then
    project_number="<project number>"
  else
    project_number="$("$GCLOUD" projects describe "$PROJECT" --format='value(projectNumber)')"
  fi
fi
pubsub_agent="serviceAccount:service-${project_number}@gcp-sa-pubsub.iam.gserviceaccount.com"

# Pub/Sub's own agent must be able to acknowledge the message it moves to the dead-letter topic
# (publisher on that topic is granted by Terraform / below).
run "$GCLOUD" pubsub topics add-iam-policy-binding "$DEAD_LETTER_TOPIC" --project="$PROJECT" \
  --member="$pubsub_agent" --role=roles/pubsub.publisher --quiet
run "$GCLOUD" pubsub subscriptions add-iam-policy-binding "$subscription" --project="$PROJECT" \
  --member="$pubsub_agent" --role=roles/pubsub.subscriber --quiet
run "$GCLOUD" pubsub subscriptions update "$subscription" --project="$PROJECT" \
  --dead-letter-topic="$DEAD_LETTER_TOPIC" --max-delivery-attempts="$MAX_DELIVERIES" \
  --min-retry-delay=10s --max-retry-delay=600s --quiet
