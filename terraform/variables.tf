# Variables in alphabetical order; every one typed, most validated.

variable "aws_platform_role_arn" {
  description = "The platform's own AWS role (AWS_PLATFORM_ROLE_ARN), assumed by web identity federation with the functions' Google ID tokens; null: AWS integrations cannot be validated (see output aws_platform_role_trust and docs/deploy.md)."
  type        = string
  default     = null

  validation {
    condition     = var.aws_platform_role_arn == null || can(regex("^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,576}$", var.aws_platform_role_arn))
    error_message = "aws_platform_role_arn must be an IAM role ARN: arn:aws:iam::<12 digits>:role/<name>."
  }
}

variable "azure_authority_host" {
  description = "Entra ID token endpoint root the Azure check uses (AZURE_AUTHORITY_HOST); another cloud's for a sovereign cloud."
  type        = string
  default     = "https://login.microsoftonline.com"

  validation {
    condition     = can(regex("^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?$", var.azure_authority_host))
    error_message = "azure_authority_host must be an https:// root URL, e.g. https://login.microsoftonline.com."
  }
}

variable "azure_management_url" {
  description = "Azure Resource Manager root the Azure check queries (AZURE_MANAGEMENT_URL); the token's scope is <it>/.default."
  type        = string
  default     = "https://management.azure.com"

  validation {
    condition     = can(regex("^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?$", var.azure_management_url))
    error_message = "azure_management_url must be an https:// root URL, e.g. https://management.azure.com."
  }
}

variable "bigquery_location" {
  description = "Location of the BigQuery dataset; null means the region."
  type        = string
  default     = null
}

variable "build_service_account" {
  description = "Full resource name of the service account Cloud Build uses to build the functions (projects/P/serviceAccounts/EMAIL); null keeps the project default."
  type        = string
  default     = null

  validation {
    condition     = var.build_service_account == null || can(regex("^projects/[^/]+/serviceAccounts/[^/]+@[^/]+$", var.build_service_account))
    error_message = "build_service_account must look like projects/PROJECT/serviceAccounts/EMAIL."
  }
}

variable "cors_origins" {
  description = "Origins allowed to call the API from a browser (the frontend's origins)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for o in var.cors_origins : can(regex("^https?://[^/,\\s]+$", o))])
    error_message = "Each CORS origin is scheme://host[:port], with no path and no comma."
  }
}

variable "dataset_id" {
  description = "BigQuery dataset holding the tables (BQ_DATASET of the functions)."
  type        = string
  default     = "organizations"

  validation {
    condition     = can(regex("^[A-Za-z_][A-Za-z0-9_]*$", var.dataset_id)) && length(var.dataset_id) <= 1024
    error_message = "dataset_id: letters, digits and underscores, not starting with a digit."
  }
}

variable "expiry_warning_days" {
  description = "Days before a credential's expires_at the daily revalidation warns (EXPIRY_WARNING_DAYS)."
  type        = number
  default     = 14

  validation {
    condition     = var.expiry_warning_days >= 1 && var.expiry_warning_days <= 365 && floor(var.expiry_warning_days) == var.expiry_warning_days
    error_message = "expiry_warning_days must be a whole number from 1 to 365."
  }
}

variable "invoker_members" {
  description = "Principals allowed to call the HTTP functions directly (besides the API gateway), e.g. group:ops@example.com."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.invoker_members : can(regex("^(user|group|serviceAccount|domain):.+$", m))])
    error_message = "invoker_members: user:, group:, serviceAccount: or domain: principals only; allUsers and allAuthenticatedUsers are refused."
  }
}

variable "kms_key_name" {
  description = "Name of the symmetric crypto key that encrypts credentials."
  type        = string
  default     = "credentials"

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,63}$", var.kms_key_name))
    error_message = "kms_key_name: 1 to 63 letters, digits, _ or -."
  }
}

variable "kms_key_ring_name" {
  description = "Name of the KMS key ring."
  type        = string
  default     = "integrations"

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,63}$", var.kms_key_ring_name))
    error_message = "kms_key_ring_name: 1 to 63 letters, digits, _ or -."
  }
}

variable "kms_protection_level" {
  description = "Protection level of new key versions: SOFTWARE or HSM."
  type        = string
  default     = "SOFTWARE"

  validation {
    condition     = contains(["SOFTWARE", "HSM"], var.kms_protection_level)
    error_message = "kms_protection_level must be SOFTWARE or HSM."
  }
}

variable "kms_rotation_period" {
  description = "Time between automatic key rotations, in seconds with an s suffix (at most 90 days). Each rotation adds a new primary version; old versions keep decrypting."
  type        = string
  default     = "7776000s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.kms_rotation_period)) && try(tonumber(trimsuffix(var.kms_rotation_period, "s")) >= 86400 && tonumber(trimsuffix(var.kms_rotation_period, "s")) <= 7776000, false)
    error_message = "kms_rotation_period: from 86400s (1 day) to 7776000s (90 days)."
  }
}

variable "labels" {
  description = "Labels put on every resource that takes them."
  type        = map(string)
  default     = { app = "integrations" }

  validation {
    condition     = alltrue([for k, v in var.labels : can(regex("^[a-z][a-z0-9_-]{0,62}$", k)) && can(regex("^[a-z0-9_-]{0,63}$", v))])
    error_message = "Label keys and values: lowercase letters, digits, _ and -, at most 63 characters."
  }
}

variable "log_level" {
  description = "LOG_LEVEL of the functions."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING or ERROR."
  }
}

variable "max_instances" {
  description = "Maximum instances of each function (caps cost and provider-call bursts)."
  type        = number
  default     = 10

  validation {
    condition     = var.max_instances >= 1 && var.max_instances <= 1000
    error_message = "max_instances must be between 1 and 1000."
  }
}

variable "project_id" {
  description = "Google Cloud project that receives everything."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id: 6 to 30 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "region" {
  description = "Region of the functions, the key ring, the topics' consumers, the scheduler and the gateway."
  type        = string
  default     = "europe-west1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must be a Google Cloud region such as europe-west1."
  }
}

variable "revalidate_schedule" {
  description = "Cron schedule of the daily revalidation of every active integration."
  type        = string
  default     = "0 3 * * *"

  validation {
    condition     = length(split(" ", var.revalidate_schedule)) == 5
    error_message = "revalidate_schedule must be a 5-field cron expression."
  }
}

variable "revalidate_time_zone" {
  description = "Time zone of revalidate_schedule (tz database name)."
  type        = string
  default     = "Etc/UTC"
}

variable "status_events_topic_name" {
  description = "Pub/Sub topic that receives integration status changes (STATUS_EVENTS_TOPIC)."
  type        = string
  default     = "integration-status-events"

  validation {
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9._~%+-]{2,254}$", var.status_events_topic_name))
    error_message = "status_events_topic_name is not a valid Pub/Sub topic name."
  }
}

variable "validation_max_deliveries" {
  description = "Deliveries of a validation message before it is settled as final and dead-lettered (5 to 100, a Pub/Sub limit)."
  type        = number
  default     = 5

  validation {
    condition     = var.validation_max_deliveries >= 5 && var.validation_max_deliveries <= 100
    error_message = "validation_max_deliveries must be between 5 and 100."
  }
}

variable "validation_topic_name" {
  description = "Pub/Sub topic of validation requests (PUBSUB_TOPIC); the validator is triggered by it."
  type        = string
  default     = "integration-validation"

  validation {
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9._~%+-]{2,254}$", var.validation_topic_name))
    error_message = "validation_topic_name is not a valid Pub/Sub topic name."
  }
}
