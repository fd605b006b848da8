# The key that encrypts every stored credential. Rotation adds a new primary version;
# older versions stay enabled, so existing ciphertext keeps decrypting (see docs/deploy.md).

resource "google_kms_key_ring" "integrations" {
  name     = var.kms_key_ring_name
  location = var.region

  depends_on = [google_project_service.service]
}

resource "google_kms_crypto_key" "credentials" {
  name            = var.kms_key_name
  key_ring        = google_kms_key_ring.integrations.id
  purpose         = "ENCRYPT_DECRYPT"
  rotation_period = var.kms_rotation_period
  labels          = var.labels

  version_template {
    algorithm        = "GOOGLE_SYMMETRIC_ENCRYPTION"
    protection_level = var.kms_protection_level
  }

  # Destroying the key destroys every stored credential with it.
  lifecycle {
    prevent_destroy = true
  }
}
