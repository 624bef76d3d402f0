# Red Hat Enterprise Linux 9, CIS Benchmark Level 1, x86_64.
# product_code is left out: it is not recorded here. Subscribe to the
# Marketplace product before the first build. The build connects through
# SSM Session Manager; RHEL AMIs lack the SSM agent, so the template's user
# data installs it on the build instance (the build subnet needs a route to
# S3 in the region).
image "rhel9-cis-level1" {
  base {
    owners       = ["aws-marketplace"]
    name         = "CIS Red Hat Enterprise Linux 9 Benchmark - Level 1*"
    architecture = "x86_64"
    os           = "rhel9"
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
