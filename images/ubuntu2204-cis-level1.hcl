# Ubuntu 22.04 LTS, CIS Benchmark Level 1, x86_64.
# product_code is left out: it is not recorded here. Subscribe to the
# Marketplace product before the first build.
image "ubuntu2204-cis-level1" {
  base {
    owners       = ["aws-marketplace"]
    name         = "CIS Ubuntu Linux 22.04 LTS Benchmark - Level 1*"
    architecture = "x86_64"
    os           = "ubuntu2204"
  }

  region = "us-east-1"

  tags = {
    Project = "cisecs"
  }

  ecs {
    network_modes     = ["awsvpc", "bridge", "host"]
    awsvpc_block_imds = true
  }
}
