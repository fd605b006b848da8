# API Gateway: the public paths of configs/openapi.yaml (base /api/v1/integrations) mapped to the private
# functions. API Gateway takes Swagger 2.0 only, so the document is a template here
# (gateway/openapi2.yaml.tftpl); a test holds it to configs/openapi.yaml (OpenAPI 3.1).

locals {
  gateway_document = templatefile("${path.module}/gateway/openapi2.yaml.tftpl", {
    urls = { for name, fn in google_cloudfunctions2_function.function : name => fn.url if local.functions[name].trigger == "http" }
  })
}

resource "google_api_gateway_api" "integrations" {
  provider = google-beta

  api_id       = "integrations"
  display_name = "Integrations"
  labels       = var.labels

  depends_on = [google_project_service.service]
}

# Each gateway API is a managed service of its own, which must be enabled in the project.
resource "google_project_service" "gateway_api" {
  project            = var.project_id
  service            = google_api_gateway_api.integrations.managed_service
  disable_on_destroy = false
}

resource "google_api_gateway_api_config" "integrations" {
  provider = google-beta

  api                  = google_api_gateway_api.integrations.api_id
  api_config_id_prefix = "integrations-"
  labels               = var.labels

  openapi_documents {
    document {
      path     = "openapi2.yaml"
      contents = base64encode(local.gateway_document)
    }
  }

  gateway_config {
    backend_config {
      google_service_account = google_service_account.gateway.email
    }
  }

  # A new config is created before the gateway moves to it and the old one is deleted.
  lifecycle {
    create_before_destroy = true
  }
}

resource "google_api_gateway_gateway" "integrations" {
  provider = google-beta

  gateway_id   = "integrations"
  display_name = "Integrations"
  region       = var.region
  api_config   = google_api_gateway_api_config.integrations.id
  labels       = var.labels

  depends_on = [google_project_service.gateway_api]
}
