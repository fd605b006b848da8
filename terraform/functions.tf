# Cloud Functions gen2, one per directory functions/<name>/main.py (local.functions).
# Each source bundle is uploaded under its content hash, so changed code redeploys and
# unchanged code does not.

locals {
  function_environment = {
    AWS_PLATFORM_ROLE_ARN    = var.aws_platform_role_arn == null ? "" : var.aws_platform_role_arn
    AZURE_AUTHORITY_HOST     = var.azure_authority_host
    AZURE_MANAGEMENT_URL     = var.azure_management_url
    BQ_DATASET               = google_bigquery_dataset.integrations.dataset_id
    CORS_ORIGINS             = join(",", var.cors_origins)
    EXPIRY_WARNING_DAYS      = tostring(var.expiry_warning_days)
    GCP_PROJECT              = var.project_id
    KMS_BACKEND              = "gcp"
    KMS_KEY_NAME             = google_kms_crypto_key.credentials.id
    LOG_LEVEL                = var.log_level
    PUBSUB_TOPIC             = google_pubsub_topic.topic["validation"].name
    QUEUE_BACKEND            = "pubsub"
    STATUS_EVENTS_TOPIC      = google_pubsub_topic.topic["status_events"].name
    STORE_BACKEND            = "bigquery"
    VALIDATOR_MAX_DELIVERIES = tostring(var.validation_max_deliveries)
  }
}

resource "google_storage_bucket" "sources" {
  #checkov:skip=CKV_GCP_62:Holds only function source bundles (public code, no data); access logging of it would log the deploys that Cloud Audit Logs already record.
  name                        = "${var.project_id}-integrations-sources"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false
  labels                      = var.labels

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.service]
}

# The zip of one function: its own files at the root, then shared/, configs/, requirements.txt.
data "archive_file" "source" {
  for_each = local.functions

  type        = "zip"
  output_path = "${path.root}/.terraform/build/${each.key}-${local.source_hashes[each.key]}.zip"

  dynamic "source" {
    for_each = local.function_own_files[each.key]
    content {
      filename = source.value
      content  = file("${local.repo_root}/functions/${each.key}/${source.value}")
    }
  }

  dynamic "source" {
    for_each = local.common_source_files
    content {
      filename = source.value
      content  = file("${local.repo_root}/${source.value}")
    }
  }
}

resource "google_storage_bucket_object" "source" {
  for_each = local.functions

  name   = "${each.key}/${local.source_hashes[each.key]}.zip"
  bucket = google_storage_bucket.sources.name
  source = data.archive_file.source[each.key].output_path
}

resource "google_cloudfunctions2_function" "function" {
  #checkov:skip=CKV_GCP_124:HTTP functions are reached by API Gateway, which calls from outside any VPC, so ingress must allow all; every HTTP function is private (run.invoker only for the gateway and var.invoker_members). The validator is internal-only.
  for_each = local.functions

  name        = each.key
  location    = var.region
  description = "Integrations: ${each.key}"
  labels      = var.labels

  build_config {
    runtime         = "python311"
    entry_point     = each.key
    service_account = var.build_service_account

    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.source[each.key].name
      }
    }
  }

  service_config {
    available_memory               = "256M"
    timeout_seconds                = each.value.trigger == "http" ? 60 : 300
    min_instance_count             = 0
    max_instance_count             = var.max_instances
    ingress_settings               = each.value.trigger == "http" ? "ALLOW_ALL" : "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.function[each.key].email
    environment_variables          = local.function_environment
  }

  # The validator: Eventarc delivers each message of the validation topic as a CloudEvent and
  # retries failed deliveries (the function raises on transient errors, acknowledges permanent ones).
  dynamic "event_trigger" {
    for_each = each.value.trigger == "validation_topic" ? [1] : []
    content {
      trigger_region        = var.region
      event_type            = "google.cloud.pubsub.topic.v1.messagePublished"
      pubsub_topic          = google_pubsub_topic.topic["validation"].id
      retry_policy          = "RETRY_POLICY_RETRY"
      service_account_email = google_service_account.validation_trigger.email
    }
  }

  lifecycle {
    precondition {
      condition     = local.functions_in_code == sort(keys(local.functions))
      error_message = "functions/*/main.py and local.functions (terraform/locals.tf) list different functions."
    }
  }
}
