# Outputs in alphabetical order.

output "api_base_url" {
  description = "What the frontend calls: the gateway's URL plus the public base path."
  value       = "https://${google_api_gateway_gateway.integrations.default_hostname}/api/v1/integrations"
}

output "aws_platform_role_trust" {
  description = "What the platform's AWS role (AWS_PLATFORM_ROLE_ARN) must trust: Google ID tokens (provider accounts.google.com) issued for audience = that role's ARN to these service accounts (their unique ids); docs/deploy.md shows the AWS side."
  value = {
    audience                   = var.aws_platform_role_arn
    federated_provider         = "accounts.google.com"
    service_account_emails     = sort([for name in local.aws_callers : google_service_account.function[name].email])
    service_account_unique_ids = sort([for name in local.aws_callers : google_service_account.function[name].unique_id])
  }
}

output "dead_letter_topic" {
  description = "Topic receiving validation messages that could not be delivered."
  value       = google_pubsub_topic.validation_dead_letter.name
}

output "function_service_accounts" {
  description = "Runtime service account email of each function."
  value       = { for name, sa in google_service_account.function : name => sa.email }
}

output "function_urls" {
  description = "Direct (private) URL of each function; callers need run.invoker."
  value       = { for name, fn in google_cloudfunctions2_function.function : name => fn.url }
}

output "gateway_url" {
  description = "Hostname URL of the API gateway."
  value       = "https://${google_api_gateway_gateway.integrations.default_hostname}"
}

output "kms_key_name" {
  description = "Full name of the crypto key (KMS_KEY_NAME of the functions)."
  value       = google_kms_crypto_key.credentials.id
}

output "status_events_topic" {
  description = "Topic of integration status events (STATUS_EVENTS_TOPIC)."
  value       = google_pubsub_topic.topic["status_events"].name
}

output "validation_topic" {
  description = "Topic of validation requests (PUBSUB_TOPIC)."
  value       = google_pubsub_topic.topic["validation"].name
}
