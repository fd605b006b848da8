# Validation requests (published by setup/rotate/enable/update and by the daily scheduler),
# their dead letters, and integration status events for whoever wants to listen.
# Messages name a credential (org, provider, version), they never carry one.

resource "google_pubsub_topic" "topic" {
  #checkov:skip=CKV_GCP_83:Messages hold only ids (org, provider, version) and statuses, never a credential; a CMEK would need the Pub/Sub service agent on a key.
  for_each = local.topics

  name                       = each.value
  labels                     = var.labels
  message_retention_duration = "86400s"

  depends_on = [google_project_service.service]
}

# Where Pub/Sub puts a validation message after validation_max_deliveries failed deliveries.
resource "google_pubsub_topic" "validation_dead_letter" {
  #checkov:skip=CKV_GCP_83:Same content as the validation topic: ids only, never a credential.
  name   = "${var.validation_topic_name}-dead-letter"
  labels = var.labels

  depends_on = [google_project_service.service]
}

# Keeps dead letters for a week so an operator can inspect and replay them.
resource "google_pubsub_subscription" "validation_dead_letter" {
  name                       = "${var.validation_topic_name}-dead-letter"
  topic                      = google_pubsub_topic.validation_dead_letter.id
  message_retention_duration = "604800s"
  retain_acked_messages      = false
  ack_deadline_seconds       = 60
  labels                     = var.labels

  expiration_policy {
    ttl = ""
  }
}

# The Pub/Sub service agent forwards undeliverable messages to the dead-letter topic.
resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  topic  = google_pubsub_topic.validation_dead_letter.id
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

# Eventarc creates the validator's push subscription itself and offers no dead-letter setting,
# so the policy (dead-letter topic, max deliveries, backoff) is attached to that subscription by
# scripts/wire_dead_letter.sh, the same script deploy.sh runs. It is idempotent; it runs again
# whenever the trigger or the settings change.
resource "terraform_data" "validation_dead_letter_policy" {
  triggers_replace = [
    google_cloudfunctions2_function.function["validate_credential"].event_trigger[0].trigger,
    google_pubsub_topic.validation_dead_letter.id,
    var.validation_max_deliveries,
  ]

  provisioner "local-exec" {
    command = "${path.module}/scripts/wire_dead_letter.sh"
    environment = {
      PROJECT           = var.project_id
      REGION            = var.region
      TRIGGER           = google_cloudfunctions2_function.function["validate_credential"].event_trigger[0].trigger
      DEAD_LETTER_TOPIC = google_pubsub_topic.validation_dead_letter.name
      MAX_DELIVERIES    = tostring(var.validation_max_deliveries)
    }
  }

  depends_on = [google_pubsub_topic_iam_member.dead_letter_publisher]
}
