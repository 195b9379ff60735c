output "cluster_name" {
  description = "Name of the GKE cluster."
  value       = google_container_cluster.this.name
}

output "cluster_location" {
  description = "Zone of the cluster."
  value       = google_container_cluster.this.location
}

output "get_credentials" {
  description = "Command that writes the cluster's kubectl credentials."
  value       = "gcloud container clusters get-credentials ${google_container_cluster.this.name} --zone ${google_container_cluster.this.location} --project ${var.project_id}"
}

output "image_registry" {
  description = "IMAGE_REGISTRY for `make k8s-render` (where the pipeline's images are pushed)."
  value       = "${google_artifact_registry_repository.images.location}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
}

output "backup_bucket" {
  description = "BACKUP_BUCKET of deploy/kubernetes/secrets.env: the bucket of the database dumps."
  value       = google_storage_bucket.backups.name
}

output "nat_router" {
  description = "Cloud Router carrying the NAT of the private nodes."
  value       = google_compute_router.router.name
}
