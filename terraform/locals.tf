# Pure data: no resources, no providers. The offline tests evaluate this file with
# `terraform console` (together with variables.tf), so what they check is what Terraform computes.

locals {
  # One entry per directory functions/<name>/main.py; tests fail when the two differ.
  # kms_roles:     what the function does with credentials (encrypt on setup/rotate; decrypt to validate).
  # dataset_role:  BigQuery role on the dataset only; every mutating function writes audit events.
  #                null: no data at all (the console serves static files), and no bigquery.jobUser either.
  # publishes:     topics the function may publish to (key of local.topics).
  # trigger:       "http" (private, behind the gateway) or "validation_topic" (Eventarc, Pub/Sub).
  functions = {
    console              = { trigger = "http", kms_roles = [], dataset_role = null, publishes = [] }
    delete_integration   = { trigger = "http", kms_roles = [], dataset_role = "roles/bigquery.dataEditor", publishes = ["status_events"] }
    disable_integration  = { trigger = "http", kms_roles = [], dataset_role = "roles/bigquery.dataEditor", publishes = ["status_events"] }
    enable_integration   = { trigger = "http", kms_roles = [], dataset_role = "roles/bigquery.dataEditor", publishes = ["validation", "status_events"] }
    get_integration      = { trigger = "http", kms_roles = [], dataset_role = "roles/bigquery.dataViewer", publishes = [] }
    get_setup_form       = { trigger = "http", kms_roles = [], dataset_role = "roles/bigquery.dataViewer", publishes = [] }
    list_events          = { trigger = "http", kms_roles = [], dataset_role = "roles/bigquery.dataViewer", publishes = [] }
    list_integrations    = { trigger = "http", kms_roles = [], dataset_role = "roles/bigquery.dataViewer", publishes = [] }
    rotate_credential    = { trigger = "http", kms_roles = ["roles/cloudkms.cryptoKeyEncrypter"], dataset_role = "roles/bigquery.dataEditor", publishes = ["validation", "status_events"] }
    setup_integration    = { trigger = "http", kms_roles = ["roles/cloudkms.cryptoKeyEncrypter"], dataset_role = "roles/bigquery.dataEditor", publishes = ["validation", "status_events"] }
    update_integration   = { trigger = "http", kms_roles = [], dataset_role = "roles/bigquery.dataEditor", publishes = ["validation", "status_events"] }
    validate_credential  = { trigger = "validation_topic", kms_roles = ["roles/cloudkms.cryptoKeyDecrypter"], dataset_role = "roles/bigquery.dataEditor", publishes = ["status_events"] }
    validate_integration = { trigger = "http", kms_roles = ["roles/cloudkms.cryptoKeyDecrypter"], dataset_role = "roles/bigquery.dataEditor", publishes = ["status_events"] }
  }

  http_functions = { for name, f in local.functions : name => f if f.trigger == "http" }

  # The functions that call AWS (they validate inline or from the queue): the platform's AWS role
  # must trust their service accounts' Google ID tokens (output aws_platform_role_trust).
  aws_callers = ["rotate_credential", "setup_integration", "validate_credential", "validate_integration"]

  # Service account ids: 6-30 characters, hyphens instead of underscores (deploy.sh derives the same).
  function_account_ids = { for name in keys(local.functions) : name => "fn-${replace(name, "_", "-")}" }

  topics = {
    status_events = var.status_events_topic_name
    validation    = var.validation_topic_name
  }

  # IAM bindings of the function service accounts, flattened for for_each (keys "function/role...").
  function_kms_roles = merge([
    for name, f in local.functions : { for role in f.kms_roles : "${name}/${role}" => { function = name, role = role } }
  ]...)

  function_dataset_roles = {
    for name, f in local.functions : "${name}/${f.dataset_role}" => { function = name, role = f.dataset_role } if f.dataset_role != null
  }

  # Query jobs are created at project level: the one project-level role, for every function that reads data.
  function_project_roles = {
    for name, f in local.functions : "${name}/roles/bigquery.jobUser" => { function = name, role = "roles/bigquery.jobUser" } if f.dataset_role != null
  }

  function_topic_roles = merge([
    for name, f in local.functions : {
      for topic in f.publishes : "${name}/${topic}/roles/pubsub.publisher" => { function = name, topic = topic, role = "roles/pubsub.publisher" }
    }
  ]...)

  # BigQuery tables: one per JSON schema file, the same files the store reads.
  schema_dir   = "${path.module}/../configs/schemas"
  schema_files = fileset(local.schema_dir, "*.json")
  tables = {
    for file in local.schema_files : trimsuffix(file, ".json") => {
      schema     = jsonencode(jsondecode(file("${local.schema_dir}/${file}")))
      clustering = trimsuffix(file, ".json") == "org_api_keys" ? ["api_key_hash"] : ["org_slug", "provider"]
    }
  }

  # Source bundle of each function: its own directory at the root of the zip, plus shared/,
  # configs/ and requirements.txt (never tests/, terraform/ or caches).
  repo_root = "${path.module}/.."
  common_source_files = sort(concat(
    [for f in fileset(local.repo_root, "shared/**") : f if !strcontains(f, "__pycache__") && !endswith(f, ".pyc")],
    [for f in fileset(local.repo_root, "configs/**") : f if !strcontains(f, "__pycache__")],
    ["requirements.txt"],
  ))
  function_own_files = {
    for name in keys(local.functions) : name => sort([
      for f in fileset("${local.repo_root}/functions/${name}", "**") : f
      if !strcontains(f, "__pycache__") && !endswith(f, ".pyc") && !startswith(basename(f), "test_") && !startswith(f, "tests/")
    ])
  }
  # Content hash: changes exactly when a file of the bundle (or its name) changes.
  source_hashes = {
    for name in keys(local.functions) : name => substr(sha256(join("\n", concat(
      [for f in local.function_own_files[name] : "${f}=${filesha256("${local.repo_root}/functions/${name}/${f}")}"],
      [for f in local.common_source_files : "${f}=${filesha256("${local.repo_root}/${f}")}"],
    ))), 0, 16)
  }

  functions_in_code = sort([for f in fileset("${local.repo_root}/functions", "*/main.py") : dirname(f)])
}
