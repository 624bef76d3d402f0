# The end-to-end build: Packer's null builder drives provisioner "cisecs"
# over SSH into the host twin. Only the agent step is skipped: nothing can be
# downloaded offline.
packer {
  required_plugins {
    cisecs = {
      source  = "github.com/cisecs/cisecs"
      version = ">= 0.1.0"
    }
  }
}

variable "host" {
  type = string
}

variable "private_key_file" {
  type = string
}

source "null" "twin" {
  communicator         = "ssh"
  ssh_host             = var.host
  ssh_username         = "root"
  ssh_private_key_file = var.private_key_file
  ssh_timeout          = "30s"
}

build {
  sources = ["source.null.twin"]

  provisioner "cisecs" {
    skip_steps        = ["agent"]
    region            = "us-east-1"
    network_modes     = ["awsvpc", "bridge", "host"]
    awsvpc_block_imds = true
    ecs_config = {
      ECS_LOGLEVEL = "info"
    }
    report_file = "cisecs-report.json"
  }
}
