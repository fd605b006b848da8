# Daily revalidation: the validator receives {"kind":"revalidate"} on the validation topic and
# queues a validation of every active integration (what `python -m shared.cli revalidate` does).
# Cloud Scheduler publishes with its own service agent, which holds the publish permission.

resource "google_cloud_scheduler_job" "revalidate" {
  name        = "integrations-revalidate"
  description = "Daily revalidation of every active integration."
  region      = var.region
  schedule    = var.revalidate_schedule
  time_zone   = var.revalidate_time_zone

  pubsub_target {
    topic_name = google_pubsub_topic.topic["validation"].id
    data       = base64encode(jsonencode({ kind = "revalidate" }))
  }

  retry_config {
    retry_count          = 3
    min_backoff_duration = "60s"
  }

  depends_on = [google_project_service.service]
}
