# OpenTofu (>= 1.6) or Terraform (>= 1.5). The Google provider is fetched by `init`.
terraform {
  required_version = ">= 1.5.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.0"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}
