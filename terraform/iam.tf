# One service account per function, and exactly the grants of local.functions (locals.tf):
#   cryptoKeyEncrypter / cryptoKeyDecrypter  on the credentials key only,
#   dataEditor / dataViewer                  on the dataset only,
#   pubsub.publisher                         on each topic the function publishes to,
#   bigquery.jobUser                         on the project (the only project-level grant).
# Members are added one by one (iam_member), never authoritatively, so nothing else is removed.

resource "google_service_account" "function" {
  for_each = local.functions

  account_id   = local.function_account_ids[each.key]
  display_name = "Integrations function ${each.key}"
  description  = "Runtime identity of the ${each.key} Cloud Function."

  depends_on = [google_project_service.service]
}

resource "google_kms_crypto_key_iam_member" "function" {
  for_each = local.function_kms_roles

  crypto_key_id = google_kms_crypto_key.credentials.id
  role          = each.value.role
  member        = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

resource "google_bigquery_dataset_iam_member" "function" {
  for_each = local.function_dataset_roles

  dataset_id = google_bigquery_dataset.integrations.dataset_id
  role       = each.value.role
  member     = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

# BigQuery query jobs are created in a project, not in a dataset: running a query needs
# bigquery.jobs.create on the project. jobUser grants job creation only, no data access;
# what a query may read or write still comes from the dataset role above.
resource "google_project_iam_member" "function" {
  for_each = local.function_project_roles

  project = var.project_id
  role    = each.value.role
  member  = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

resource "google_pubsub_topic_iam_member" "function" {
  for_each = local.function_topic_roles

  topic  = google_pubsub_topic.topic[each.value.topic].id
  role   = each.value.role
  member = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

# Identity the API gateway uses to call the private HTTP functions.
resource "google_service_account" "gateway" {
  account_id   = "integrations-gateway"
  display_name = "Integrations API gateway"
  description  = "Calls the private HTTP functions on behalf of the API gateway."

  depends_on = [google_project_service.service]
}

# Identity Eventarc uses to push validation messages to the validator.
resource "google_service_account" "validation_trigger" {
  account_id   = "integrations-trigger"
  display_name = "Integrations validation trigger"
  description  = "Eventarc identity that invokes validate_credential."

  depends_on = [google_project_service.service]
}

# Pub/Sub mints the OIDC token of the push (as the trigger's identity): token creator on
# that one service account, not on the project.
resource "google_service_account_iam_member" "pubsub_token_creator" {
  service_account_id = google_service_account.validation_trigger.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

locals {
  # HTTP functions are private: only the gateway and var.invoker_members may call them.
  http_invokers = concat(["serviceAccount:${google_service_account.gateway.email}"], var.invoker_members)
  http_invoker_bindings = {
    for pair in setproduct(keys(local.http_functions), local.http_invokers) : "${pair[0]}/${pair[1]}" => {
      function = pair[0]
      member   = pair[1]
    }
  }
}

# A gen2 function is served by a Cloud Run service: invoking it takes run.invoker on that service.
resource "google_cloud_run_v2_service_iam_member" "http_invoker" {
  for_each = local.http_invoker_bindings

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.function[each.value.function].service_config[0].service
  role     = "roles/run.invoker"
  member   = each.value.member
}

resource "google_cloud_run_v2_service_iam_member" "validator_invoker" {
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.function["validate_credential"].service_config[0].service
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.validation_trigger.email}"
}
