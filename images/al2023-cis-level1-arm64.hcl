# Amazon Linux 2023, CIS Benchmark Level 1, arm64 (Graviton).
# product_code is left out: it is not recorded here, and guessing one would
# select the wrong product or nothing. Subscribe to the Marketplace product
# before the first build.
image "al2023-cis-level1-arm64" {
  base {
    owners       = ["aws-marketplace"]
    name         = "CIS Amazon Linux 2023 Benchmark - Level 1*"
    architecture = "arm64"
    os           = "al2023"
  }

  region        = "us-east-1"
  instance_type = "t4g.medium"

  tags = {
    Project = "cisecs"
  }

  ecs {
    network_modes     = ["awsvpc", "bridge", "host"]
    awsvpc_block_imds = true
  }
}
