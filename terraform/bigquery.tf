# Dataset and tables. Table schemas are the JSON files in configs/schemas/ that the
# BigQuery store also reads: a new schema file becomes a new table (see local.tables).

resource "google_bigquery_dataset" "integrations" {
  #checkov:skip=CKV_GCP_81:Credentials are already encrypted by the application with the KMS key before they reach BigQuery; the rest is non-secret metadata, so Google-managed encryption at rest is kept and no BigQuery service agent gets access to a key.
  dataset_id                 = var.dataset_id
  location                   = coalesce(var.bigquery_location, var.region)
  description                = "Integrations: organizations, integrations, encrypted credentials, audit trail."
  delete_contents_on_destroy = false
  labels                     = var.labels

  depends_on = [google_project_service.service]
}

resource "google_bigquery_table" "table" {
  #checkov:skip=CKV_GCP_80:Same reason as the dataset: credential ciphertext is produced by the application's KMS key, tables hold no plaintext secret.
  for_each = local.tables

  dataset_id          = google_bigquery_dataset.integrations.dataset_id
  table_id            = each.key
  schema              = each.value.schema
  clustering          = each.value.clustering
  deletion_protection = true
  labels              = var.labels
}
