variable "project_id" {
  description = "Google Cloud project that hosts the cluster."
  type        = string
}

variable "region" {
  description = "Region of the network, NAT, Artifact Registry and backup bucket."
  type        = string
  default     = "europe-north1"
}

variable "zone" {
  description = "Zone of the (zonal) cluster; the seed design's location."
  type        = string
  default     = "europe-north1-a"
}

variable "cluster_name" {
  description = "Name of the GKE cluster (and prefix of the network resources)."
  type        = string
  default     = "iot-pipeline-cluster"
}

variable "release_channel" {
  description = "GKE release channel (REGULAR runs Kubernetes 1.34 at the time of writing; the manifests are validated against 1.34)."
  type        = string
  default     = "REGULAR"
}

variable "machine_type" {
  description = "Machine type of the node pool (4 vCPU, 16 GiB)."
  type        = string
  default     = "e2-standard-4"
}

variable "min_nodes" {
  description = "Smallest size of the autoscaling node pool."
  type        = number
  default     = 1
}

variable "max_nodes" {
  description = "Largest size of the autoscaling node pool. Kafka's required anti-affinity puts its three brokers on three nodes, so the pool grows to 3 once the pipeline is applied."
  type        = number
  default     = 3
}

variable "node_disk_size_gb" {
  description = "Boot disk of each node (GiB)."
  type        = number
  default     = 50
}

variable "subnet_cidr" {
  description = "Primary range of the nodes' subnet."
  type        = string
  default     = "10.10.0.0/20"
}

variable "pods_cidr" {
  description = "Secondary range for pods (VPC-native cluster)."
  type        = string
  default     = "10.20.0.0/16"
}

variable "services_cidr" {
  description = "Secondary range for Services."
  type        = string
  default     = "10.30.0.0/20"
}

variable "master_cidr" {
  description = "/28 of the control plane's private endpoint."
  type        = string
  default     = "172.16.0.0/28"
}

variable "master_authorized_cidrs" {
  description = "Networks allowed to reach the control plane's public endpoint (kubectl), name = CIDR, e.g. { admin = \"203.0.113.7/32\" }. Required: an empty map lets no one outside Google reach it."
  type        = map(string)
}

variable "kubernetes_namespace" {
  description = "Namespace of the pipeline (deploy/kubernetes/base/namespace.yaml)."
  type        = string
  default     = "iot-pipeline"
}

variable "backup_retention_days" {
  description = "Days a database dump is kept in the backup bucket."
  type        = number
  default     = 30
}

variable "deletion_protection" {
  description = "Refuse `destroy` of the cluster while true (set false before tearing down)."
  type        = bool
  default     = true
}
